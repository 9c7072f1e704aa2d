"""Smoke tests: the benchmarks run end to end in quick mode (opt-in: --runslow)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_quick(script, *extra):
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--no-write", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    return res.stdout


@pytest.mark.slow
def test_electrostatics_benchmark_quick():
    pytest.importorskip("torchpme")
    pytest.importorskip("tqdm")
    out = _run_quick("electrostatics.py", "--repeats", "1")
    assert "| N | method | settings | median [s] |" in out
    assert "rel. residual" in out


@pytest.mark.slow
def test_md_throughput_benchmark_quick():
    out = _run_quick("md_throughput.py")
    assert "| engine | long range | s/step | atom-steps/s | ns/day |" in out
