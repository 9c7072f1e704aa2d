"""Water under a static and an AC electric field in LAMMPS (``pair_style polmlip``, MPI).

    python examples/lammps_field_md.py --model demo_output/model.pt [--ranks 2]

Without --structure a periodic box of water molecules is built (the model must know H and
O). Two NVE runs follow on ``--ranks`` MPI ranks (``mpiexec -n R lmp``), each from the same
start: a static field E_z = amplitude, and an AC field E_x = amplitude·sin(2π t / period)
given as LAMMPS equal-style variables (``efield v_ex v_ey v_ez``), evaluated every step.
Writes, per run, the LAMMPS input ``in.field``, ``data.lmp`` and ``log.lammps``, and
``field_md.png`` with field, potential energy and total energy against time.
"""

from __future__ import annotations

import argparse
import pathlib

import ase.io


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="exported polmlip model (polmlip export)")
    p.add_argument("--structure", help="starting structure (extxyz, PDB...); periodic")
    p.add_argument("--molecules", type=int, default=32, help="waters when no structure")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--dt", type=float, default=0.5, help="time step in fs")
    p.add_argument("--ranks", type=int, default=2, help="MPI ranks (default 2)")
    p.add_argument("--amplitude", type=float, default=0.1, help="field amplitude in V/Å")
    p.add_argument("--period", type=float, default=20.0, help="AC period in fs")
    p.add_argument("--output", default="lammps_field_md", help="output folder")
    args = p.parse_args(argv)

    from polmlip.data.structures import water_box
    from polmlip.export.io import load_exported
    from polmlip.integrations.lammps import plugin_path
    from polmlip.workflows.lammps_md import run_lammps_field_md
    from polmlip.workflows.md import plot_field_runs

    plugin_path()  # a clear message when the plugin is not built
    elements = load_exported(args.model)[1]["elements"]
    atoms = ase.io.read(args.structure) if args.structure else water_box(args.molecules, seed=0)
    out = pathlib.Path(args.output)
    runs = {
        "static": dict(amplitude=(0.0, 0.0, args.amplitude), period_fs=0.0),
        "ac": dict(amplitude=(args.amplitude, 0.0, 0.0), period_fs=args.period),
    }
    logs = {}
    for name, field in runs.items():
        print(f"{name} field: {field}, {args.ranks} MPI ranks", flush=True)
        logs[name] = run_lammps_field_md(
            atoms, args.model, elements, out / name, args.steps, args.ranks, dt_fs=args.dt, **field
        )
        drift = logs[name]["etotal"][-1] - logs[name]["etotal"][0]
        print(f"  total-energy change {drift:.4g} eV over {args.steps} steps")
    plot_field_runs(logs, out / "field_md.png")
    print(f"wrote {out / 'field_md.png'} and LAMMPS logs in {out}/static, {out}/ac")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
