"""Smoke tests: the benchmarks run end to end in quick mode (opt-in: --runslow)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
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


def test_ablation_example_quick(tmp_path):
    """examples/ablation_ladder.py in reduced form (skips itself without the shared data)."""
    root = Path(__file__).resolve().parents[2]
    data = root.parent / "shared" / "data" / "water_rpbe_d3_64.xyz"
    cmd = [sys.executable, str(root / "examples" / "ablation_ladder.py"), "--quick"]
    proc = subprocess.run(
        cmd + ["--output", str(tmp_path)], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    if not data.is_file():
        assert "skipped" in proc.stdout
        pytest.skip(f"{data} is absent")
    rows = [line for line in proc.stdout.splitlines() if line.strip().startswith(("SR", "q "))]
    assert len(rows) == 2, proc.stdout


@pytest.mark.slow
def test_validation_quick(tmp_path):
    pytest.importorskip("tblite")
    pytest.importorskip("phonopy")
    out = _run_quick("validation.py", "--workdir", str(tmp_path))
    for title in ("Field response", "IR spectrum", "LO–TO splitting"):
        assert f"## {title}" in out


@pytest.mark.slow
def test_lammps_kspace_benchmark_quick():
    out = _run_quick("lammps_kspace.py")
    assert "| N | LAMMPS mesh | LAMMPS kspace [ms] |" in out


@pytest.mark.slow
def test_lammps_scaling_benchmark_quick():
    out = _run_quick("lammps_scaling.py")
    assert "| atoms | 1 rank × 1 thread | 1 rank × 2 threads | 2 ranks × 1 thread |" in out
    assert "| threads | LAMMPS s/step |" in out


def test_spice_bec_recipe_trains_as_written(tmp_path):
    """examples/train_spice_bec.yaml in reduced form: the route its comments give (label
    frames of the shared SPICE file with GFN2-xTB Born charges, then polmlip train) on 4
    frames for 1 epoch; the labelling prints the calibration ratio the recipe uses."""
    pytest.importorskip("tblite")
    import yaml

    from polmlip.cli.main import main
    from polmlip.data.dataset import read_frames
    from polmlip.qmdata.datagen import write_extxyz_atomic

    shared = ROOT.parent / "shared" / "data" / "spice_dipeptides_train.xyz"
    if not shared.is_file():
        pytest.skip(f"{shared} is absent")
    few = write_extxyz_atomic(read_frames(shared, ":4"), tmp_path / "few.xyz")
    labelled = tmp_path / "train_xtb.xyz"
    args = ["datagen", "file", "--input", str(few), "--bec", "-o", str(labelled), "--quiet"]
    assert main(args) == 0
    recipe = yaml.safe_load((ROOT / "examples" / "train_spice_bec.yaml").read_text())
    recipe["data"]["train"] = str(labelled)
    recipe["data"]["val_fraction"] = 0.25
    recipe["training"].update(output=str(tmp_path / "run"), epochs=1)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["train", str(tmp_path / "recipe.yaml")]) == 0
    assert (tmp_path / "run" / "model.pt").is_file()


def test_mace_water_recipe_trains_and_exports_as_written(tmp_path):
    """examples/train_water_mace.yaml in reduced form (4 frames, 1 epoch, 4 channels): the
    MACE backbone trains on the shared DFT water and its exported file runs in ASE."""
    import yaml
    from ase.io import read

    from polmlip.ase import PolMLIPCalculator
    from polmlip.cli.main import main

    shared = ROOT.parent / "shared" / "data" / "water_rpbe_d3_64.xyz"
    if not shared.is_file():
        pytest.skip(f"{shared} is absent")
    recipe = yaml.safe_load((ROOT / "examples" / "train_water_mace.yaml").read_text())
    assert recipe["model"]["backbone"] == "mace"
    recipe["model"]["channels"] = 4
    recipe["data"]["train"] = str(shared)
    recipe["data"]["val_fraction"] = 0.25
    recipe["training"].update(output=str(tmp_path / "run"), epochs=1, max_frames=4)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["train", str(tmp_path / "recipe.yaml")]) == 0
    atoms = read(shared, index=0)
    atoms.calc = PolMLIPCalculator(str(tmp_path / "run" / "model.pt"))
    forces = atoms.get_forces()
    assert np.all(np.isfinite(forces)) and forces.shape == (len(atoms), 3)


def test_inference_speed_core(tmp_path):
    """benchmarks/inference_speed.py's timing core on a tiny box: the fast path (the file as
    exported) and the e3nn path of the small model, exported here, 1 timed call each (no
    baseline, no MACE, no write)."""
    import importlib.util

    import torch

    pytest.importorskip("torchpme")  # bench_systems imports it
    spec = importlib.util.spec_from_file_location(
        "inference_speed", ROOT / "benchmarks" / "inference_speed.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    atoms = bench.water_atoms(96)
    files = bench.export_models(tmp_path, ["small"], ["float64"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the benchmark runs (more threads crawl on a busy machine)
    try:
        runs = {
            fast: bench.time_engine(files["small", "float64"], atoms, fast, repeats=1, budget=0.0)
            for fast in (None, False)
        }
        work = bench.count_flops("small", atoms)
    finally:
        torch.set_num_threads(threads)
    for res in runs.values():
        assert res["reps"] == 1 and 0.0 < res["t_min"] == res["t_med"]
        assert res["edges"] > 0
    e_fast, e_e3nn = runs[None]["energy"], runs[False]["energy"]
    assert abs(e_fast - e_e3nn) <= 1e-6 * abs(e_e3nn)  # radial tables: ~1e-6 by design
    assert work > 0
    lines = bench.results_table(
        [
            dict(r, model="small", n=96, path="e3nn" if f is False else "fast", dtype="float64")
            for f, r in runs.items()
        ],
        "small",
        {("small", 96): 1e6},
        {"float64": 1e9},
    )
    assert len(lines) == 4 and "e3nn path, same code" in lines[-1]
