"""``polmlip lo-to``: LO–TO splitting at Γ of a crystal with a polmlip model (via phonopy).

Registered on the ``polmlip`` subcommands with :func:`add_parser` (``polmlip lo-to --help``).
"""

from __future__ import annotations

import argparse
import json
import pathlib

from .args import positive_int

DESCRIPTION = """\
Phonon frequencies at Gamma with the non-analytic correction (NAC): force constants by
finite displacements in a supercell (phonopy), Born effective charges Z* from the model
(acoustic sum rule enforced) and the electronic dielectric tensor eps_inf = I + 4 pi k_e
(dP/dE)/V from central differences of the polarization in a field. Prints TO and LO
frequencies (cm^-1) along each q -> 0 direction, eps_inf and Z*; writes OUTDIR/lo_to.json
and OUTDIR/phonon_bands.png (Gamma-X-K-Gamma-L for fcc lattices).
"""

EPILOG = """\
--direction is Cartesian (in the frame of the structure's cell vectors), repeatable;
default: 1 0 0, 1 1 0 and 1 1 1.

examples:
  polmlip lo-to model.pt NaCl.cif --supercell 2 2 2 -o nacl_lo_to
  polmlip lo-to model.pt POSCAR --direction 0 0 1 --direction 1 1 0
  polmlip lo-to model.pt NaCl.cif --no-nac        # analytic part only (LO = TO)
"""


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``lo-to`` subcommand to an ``argparse`` subparsers object."""
    p = sub.add_parser(
        "lo-to",
        help="LO-TO splitting at Gamma (phonopy + model Z* and eps_inf)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="exported model file (polmlip export)")
    p.add_argument(
        "structure",
        metavar="STRUCTURE",
        help="periodic unit cell readable by ASE (cif, POSCAR, extxyz...)",
    )
    p.add_argument(
        "--supercell",
        type=positive_int,
        nargs=3,
        default=[2, 2, 2],
        metavar=("NA", "NB", "NC"),
        help="supercell of the unit cell for the force constants (default: 2 2 2)",
    )
    p.add_argument(
        "--displacement",
        type=float,
        default=0.01,
        metavar="ANGSTROM",
        help="finite displacement in Å (default: %(default)s)",
    )
    p.add_argument(
        "--direction",
        type=float,
        nargs=3,
        action="append",
        metavar=("QX", "QY", "QZ"),
        help="Cartesian q -> 0 direction; repeat for several (default: 100, 110, 111)",
    )
    p.add_argument(
        "--no-nac", action="store_true", help="no non-analytic correction (no LO-TO splitting)"
    )
    p.add_argument(
        "--field",
        type=float,
        default=0.01,
        metavar="V_PER_ANGSTROM",
        help="field step in V/Å for eps_inf by finite differences (default: %(default)s)",
    )
    p.add_argument(
        "--npoints", type=positive_int, default=51, help="q-points per band segment (default: 51)"
    )
    p.add_argument("--device", default="cpu", help="model device: cpu or cuda")
    p.add_argument(
        "-o", "--output", default="lo_to", metavar="OUTDIR", help="output folder (default: lo_to)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _read_structure(path: str):
    import ase.io

    from ..errors import InputError

    if not pathlib.Path(path).is_file():
        raise InputError(f"structure file {path!r} does not exist")
    try:
        atoms = ase.io.read(path)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise InputError(f"cannot read structure {path!r}: {exc}") from None
    if not atoms.pbc.all():
        raise InputError(f"structure {path!r} is not periodic in x, y and z (a crystal is needed)")
    return atoms


def run(args: argparse.Namespace) -> int:
    """Handler of ``polmlip lo-to``; raises :class:`polmlip.errors.InputError` on bad input."""
    from ..errors import InputError
    from ..fileio import check_output, write_text

    if not pathlib.Path(args.model).is_file():
        raise InputError(f"model file {args.model!r} does not exist")
    out = check_output(args.output, "results", inputs=[args.model, args.structure], folder=True)
    atoms = _read_structure(args.structure)
    if args.npoints < 2:
        raise InputError(f"--npoints must be ≥ 2, got {args.npoints}")
    try:
        import phonopy  # noqa: F401
    except ImportError:
        raise InputError("polmlip lo-to needs phonopy: pip install phonopy") from None
    from ..integrations.ase import PolMLIPCalculator
    from ..workflows.phonons import DEFAULT_DIRECTIONS, band_structure_png, lo_to

    calc = PolMLIPCalculator(args.model, device=args.device)
    res = lo_to(
        atoms,
        calc,
        supercell=args.supercell,
        displacement=args.displacement,
        directions=args.direction or DEFAULT_DIRECTIONS,
        progress=not args.quiet,
        nac=not args.no_nac,
        field=args.field,
    )
    out.mkdir(parents=True, exist_ok=True)
    png = band_structure_png(res.phonon, out / "phonon_bands.png", args.npoints)
    data = res.as_dict()
    data.update(
        {
            "model": args.model,
            "structure": args.structure,
            "supercell": list(args.supercell),
            "displacement_angstrom": args.displacement,
            "field_step_V_per_angstrom": args.field,
        }
    )
    write_text(out / "lo_to.json", json.dumps(data, indent=1))
    print(res.table())
    print("eps_inf =\n" + _matrix(res.epsilon))
    for sym, z in zip(data["primitive_symbols"], res.born):
        print(f"Z*({sym}) [e] =\n" + _matrix(z))
    if not res.nac:
        print("(no NAC: LO = TO)")
    print(f"wrote {out / 'lo_to.json'}, {png}")
    return 0


def _matrix(m) -> str:
    return "\n".join("  " + " ".join(f"{x:9.4f}" for x in row) for row in m)
