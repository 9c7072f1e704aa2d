"""Smoke test: the electrostatics benchmark runs end to end in quick mode."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "electrostatics.py"


@pytest.mark.slow
def test_electrostatics_benchmark_quick():
    pytest.importorskip("torchpme")
    pytest.importorskip("tqdm")
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--no-write", "--repeats", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    assert "| N | method | settings | median [s] |" in res.stdout
    assert "rel. residual" in res.stdout
