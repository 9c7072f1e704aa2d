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


def main(argv=None) -> int:
    from polmlip.export.io import load_exported
    from polmlip.integrations.lammps import plugin_path
    from polmlip.workflows.lammps_md import run_lammps_field_md
    from polmlip.workflows.md import field_md_parser, run_static_and_ac

    p = field_md_parser(__doc__.splitlines()[0], "lammps_field_md")
    p.add_argument("--ranks", type=int, default=2, help="MPI ranks (default 2)")
    args = p.parse_args(argv)
    plugin_path()  # a clear message when the plugin is not built
    elements = load_exported(args.model)[1]["elements"]
    run_static_and_ac(
        args,
        lambda atoms, workdir, **field: run_lammps_field_md(
            atoms, args.model, elements, workdir, args.steps, args.ranks, dt_fs=args.dt, **field
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
