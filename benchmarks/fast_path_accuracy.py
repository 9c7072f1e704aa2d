"""Accuracy of the engines' fast path on the default model (docs/benchmarks.md).

One untrained default model (16 channels, lmax 2, 2 layers, charges, dipoles, induced charges
and dipoles; seed 0), exported in float64 and as ``polmlip export`` writes it (float32
network), on a rattled 1,536-atom water box (and 12,288 with ``--big``). Against the same
file's e3nn path and radial networks in float64, it measures:

1. the fused convolution (``polmlip::tp_conv``) alone: target 1e-12 relative;
2. the radial tables (``polmlip::radial_spline``) alone: force target 1e-6 relative;
3. the mixed-precision file (float32 network) and an all-float32 file: force target 1e-5
   relative RMS;
4. the long range fixed per run: ``polmlip::allreduce`` calls in one force call after the
   first, with fixed and per-call tuning (torch profiler), and how often the settings were
   chosen over 10 calls along a short MD-like path.

Errors: max |a − b| / max |b| and the RMS of a − b over the RMS of b, for energy, forces,
stress and Born charges.

Run:  python benchmarks/fast_path_accuracy.py [--no-write] [--big]   (~2 min)
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

import torch

from polmlip.data.graph import atoms_to_graph
from polmlip.export.adapter import engine_inputs, requested_outputs
from polmlip.export.io import export_model, load_exported
from polmlip.model import ModelConfig, PolMLIP
from polmlip.qmdata.structures import water_box

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from report import replace_section  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SECTION = "Fast path accuracy (default model)"
QUANTITIES = ("energy", "forces", "stress", "bec")


def evaluate(engine, meta, atoms, fast: bool, table: bool):
    """Outputs (float64) of one call with the chosen paths."""
    engine.set_fast_path(fast)
    engine.set_radial_table(table)
    dtype = getattr(torch, meta["dtype"])
    g = atoms_to_graph(atoms, meta["elements"], float(meta["cutoff"]), [0.0] * 3, 0.0, dtype=dtype)
    with torch.jit.optimized_execution(False):
        out = engine(engine_inputs(g), requested_outputs(True, True, True))
    return {k: v.double() for k, v in out.items()}


def errors(a, b):
    """{quantity: (max relative, RMS relative)} of a against the reference b."""
    result = {}
    for name in QUANTITIES:
        d = a[name] - b[name]
        result[name] = (
            float(d.abs().max() / b[name].abs().max()),
            float(d.pow(2).mean().sqrt() / b[name].pow(2).mean().sqrt()),
        )
    return result


def allreduce_calls(engine, meta, atoms, fixed: bool) -> int:
    """polmlip::allreduce calls in the second of two force calls."""
    engine.model.electrostatics.solver.set_fixed_tuning(fixed)
    g = atoms_to_graph(atoms, meta["elements"], float(meta["cutoff"]), [0.0] * 3, 0.0)
    inputs, req = engine_inputs(g), requested_outputs(True, True, False)
    with torch.jit.optimized_execution(False):
        engine(inputs, req)
        with torch.profiler.profile() as prof:
            engine(inputs, req)
    engine.model.electrostatics.solver.set_fixed_tuning(True)
    return sum(e.count for e in prof.key_averages() if e.key == "polmlip::allreduce")


def tunings_along_path(engine, meta, atoms, calls: int = 10) -> int:
    engine.retune_long_range()
    before = engine.model.electrostatics.solver.tuning.tunings
    for k in range(calls):
        moved = atoms.copy()
        moved.rattle(0.01, seed=100 + k)
        evaluate(engine, meta, moved, True, True)
    return engine.model.electrostatics.solver.tuning.tunings - before


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    p.add_argument("--big", action="store_true", help="also the 12,288-atom box")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = PolMLIP(ModelConfig.from_dict({"elements": ["H", "O"]}))
    rows, counts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        files = {
            "float64": tmp / "f64.pt",
            "mixed": tmp / "mixed.pt",
            "float32": tmp / "f32.pt",
        }
        export_model(model, files["float64"], network_dtype="float64")
        export_model(model, files["mixed"], network_dtype="float32")
        export_model(model.float(), files["float32"])
        loaded = {k: load_exported(v) for k, v in files.items()}
        sizes = [512, 4096] if args.big else [512]
        for n_mol in sizes:
            atoms = water_box(n_mol, seed=5)
            atoms.rattle(0.02, seed=6)
            engine, meta = loaded["float64"]
            ref = evaluate(engine, meta, atoms, fast=False, table=False)
            cases = [
                ("fused convolution, float64 (target 1e-12)", "float64", True, False),
                ("radial tables, float64 (forces: target 1e-6)", "float64", False, True),
                ("fast path as exported, float64", "float64", True, True),
                (
                    "as `polmlip export` writes it: float32 network (forces RMS: target 1e-5)",
                    "mixed",
                    True,
                    True,
                ),
                ("everything float32", "float32", True, True),
            ]
            for label, which, fast, table in cases:
                engine_k, meta_k = loaded[which]
                out = evaluate(engine_k, meta_k, atoms, fast, table)
                rows.append((len(atoms), label, errors(out, ref)))
                print(f"  {len(atoms)} atoms, {label}: forces {rows[-1][2]['forces']}")
        atoms = water_box(512, seed=5)
        engine, meta = loaded["mixed"]
        counts = [
            allreduce_calls(engine, meta, atoms, fixed=True),
            allreduce_calls(engine, meta, atoms, fixed=False),
            tunings_along_path(engine, meta, atoms),
        ]
    table = [
        "| atoms | path against e3nn + radial networks, float64 | energy | forces (max / RMS) "
        "| stress | Born charges |",
        "|---|---|---|---|---|---|",
    ]
    for n, label, e in rows:
        cells = [f"{e['energy'][0]:.1e}", f"{e['forces'][0]:.1e} / {e['forces'][1]:.1e}"]
        cells += [f"{e['stress'][0]:.1e}", f"{e['bec'][0]:.1e}"]
        table.append(f"| {n} | {label} | " + " | ".join(cells) + " |")
    tuning = [
        "Long range fixed per run (1,536 atoms, the mixed file): `polmlip::allreduce` calls in "
        f"one force call after the first: **{counts[0]}** with fixed settings, {counts[1]} "
        "when they are chosen on every call (the difference is the magnitudes' global sum; the "
        "others are physics: polarization, total charge, response). Settings chosen "
        f"**{counts[2]}** time(s) over 10 calls on rattled frames of the same cell.",
    ]
    text = [
        f"Written by `python benchmarks/fast_path_accuracy.py{' --big' if args.big else ''}` "
        f"({time.strftime('%Y-%m-%d')}, torch {torch.__version__}, "
        f"{(time.perf_counter() - t0) / 60:.1f} min). Default model (16 channels, lmax 2, 2 "
        "layers, charges, dipoles, induced charges and dipoles; untrained, seed 0), rattled "
        "water boxes, PME at 1e-5. Errors relative to the largest (max) or RMS value of the "
        "reference: the same file's e3nn path with its radial networks in float64.",
        "",
        *table,
        "",
        *tuning,
    ]
    print("\n".join(text))
    if not args.no_write:
        replace_section(ROOT / "docs" / "benchmarks.md", SECTION, "\n".join(text))
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
