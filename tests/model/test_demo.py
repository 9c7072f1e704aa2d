"""The README's main job runs (in its reduced form) and writes its files."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--quick", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[8/8] summary" in proc.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("model", "learning_curve", "ir_png", "ir_trajectory", "test_data"):
        assert Path(summary["files"][key]).is_file()
    for engine in ("lammps", "openmm"):  # ran, or said clearly why not
        assert "steps" in summary[engine] or "not built" in summary[engine]["skipped"]
        if "steps" in summary[engine]:
            # under the AC field H(t) − H(0) is the field work −∫(dE/dt)·P dt to the NVE
            # noise of the same run at zero field (a wrong P or field timing misses by ~W)
            log = summary[engine]
            assert log["field_work_max_eV"] > 10 * log["nve_noise_eV"], log
            assert log["balance_residual_eV"] <= 2 * log["nve_noise_eV"] + 1e-4, log
    if "csv" in summary["openmm"]:
        assert Path(summary["openmm"]["csv"]).is_file()
    assert set(summary["ir"]["bands_cm-1"]) == {"bend", "stretch"}
    assert -1.0 <= summary["bec_correlation"] <= 1.0
