"""Water under a static and an AC electric field in OpenMM with PolMLIPForce.

    python examples/openmm_field_md.py --model demo_output/model.pt --structure water.xyz

Without --structure a periodic box of water molecules is built (the model must know H and
O). Two NVE runs follow, each from the same start: a static field E_z = amplitude, and an AC
field E_x = amplitude·sin(2π t / period) driven by a CustomIntegrator. Writes, per run,
``openmm_md.csv`` and ``openmm_final.xyz``, and ``field_md.png`` with field, potential energy
and total energy against time.
"""

from __future__ import annotations


def main(argv=None) -> int:
    from polmlip.workflows.md import field_md_parser, run_static_and_ac
    from polmlip.workflows.openmm_md import run_openmm_field_md

    p = field_md_parser(__doc__.splitlines()[0], "openmm_field_md")
    p.add_argument("--platform", default="CPU", help="OpenMM platform (CPU, Reference, CUDA)")
    args = p.parse_args(argv)
    run_static_and_ac(
        args,
        lambda atoms, workdir, **field: run_openmm_field_md(
            atoms,
            args.model,
            workdir,
            steps=args.steps,
            dt_fs=args.dt,
            platform=args.platform,
            **field,
        ),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
