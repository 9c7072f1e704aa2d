"""``polmlip datagen``: GFN2-xTB reference data (tblite) for training and validation."""

from __future__ import annotations

import argparse

from ..errors import InputError
from .args import positive_int

DESCRIPTION = """Make reference data with GFN2-xTB (tblite): distorted structures labelled with
energy (eV), forces (eV/Å), dipole (e·Å, clusters), Mulliken charges and, with --bec,
Born effective charges from the field derivative of the forces (6 single points per frame);
with --polarizability, the polarizability alpha = dmu/dE at fixed nuclei (e·Å²/V) from the
dipoles of the same 6 single points.
A uniform field can be applied to a fraction of the frames; it is stored per frame as
external_field in V/Å, the key polmlip train reads. The file is written atomically.

systems:
  water-clusters   open clusters of --molecules waters (default 1-16)
  water-box        periodic 1 g/cm3 water boxes (no field, no BECs)
  nacl-clusters    open rock-salt NaCl fragments (8-27 ions)
  file             the open frames of --input, which keep their own labels; the GFN2-xTB
                   ones are added as xtb_energy, xtb_forces, xtb_dipole, xtb_charges and,
                   with --bec, xtb_bec (e.g. Born charges for a DFT set that has none)

examples:
  polmlip datagen water-clusters -n 200 -o train.xyz
  polmlip datagen water-clusters -n 40 --field 0.005 0.01 -o field_test.xyz  # 0.01 au = 0.514 V/Å
  polmlip datagen water-clusters -n 20 --molecules 2 6 --bec -o bec_test.xyz
  polmlip datagen water-clusters -n 40 --bec --polarizability -o alpha_train.xyz
  polmlip datagen file --input dft.xyz --bec -o dft_with_xtb_bec.xyz
"""


def _run(args: argparse.Namespace) -> int:
    from ..fileio import check_output
    from ..qmdata.datagen import generate, label_frames, write_extxyz_atomic

    if (args.system == "file") != (args.input is not None):
        raise InputError("--input FILE goes with the system 'file' (and 'file' needs --input)")
    check_output(args.output, "data", inputs=[args.input] if args.input else ())
    if args.system == "file":
        from ..data.dataset import read_frames

        frames = label_frames(
            read_frames(args.input),
            bec=args.bec,
            progress=not args.quiet,
            polarizability=args.polarizability,
        )
        path = write_extxyz_atomic(frames, args.output)
        n_atoms = sum(len(a) for a in frames)
        print(f"wrote {path}: {len(frames)} frames, {n_atoms} atoms (GFN2-xTB labels xtb_*)")
        _print_dipole_ratio(frames)
        return 0
    frames = generate(
        args.system,
        args.frames,
        molecules=tuple(args.molecules),
        field_au=args.field[0] if len(args.field) == 1 else args.field,
        field_fraction=args.field_fraction,
        field_axis=args.field_axis,
        bec=args.bec,
        polarizability=args.polarizability,
        seed=args.seed,
        progress=not args.quiet,
    )
    path = write_extxyz_atomic(frames, args.output)
    n_atoms = sum(len(a) for a in frames)
    print(f"wrote {path}: {len(frames)} frames, {n_atoms} atoms (GFN2-xTB, {args.system})")
    return 0


def _print_dipole_ratio(frames) -> None:
    """The ratio of the file's own dipole changes to GFN2-xTB's, when it has dipoles."""
    from ..qmdata.calibration import teacher_dipole_ratio
    from ..qmdata.datagen import XTB_PREFIX

    found = teacher_dipole_ratio(frames, XTB_PREFIX + "dipole")
    if found is None:
        return
    print(
        f"dipole changes, this file's / GFN2-xTB: {found['ratio']:.3f} (least squares over "
        f"{found['frames']} frames of {found['molecules']} molecules); to calibrate the "
        f"xtb_bec labels to this file's method, train with data.bec_scale: {found['ratio']:.3f}"
    )


def add_parser(sub) -> None:
    """Register ``datagen`` on an argparse subparsers object."""
    from ..qmdata.datagen import SYSTEMS

    p = sub.add_parser(
        "datagen",
        help="make GFN2-xTB reference data (water clusters/box, NaCl), optionally under a field",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("system", choices=sorted(SYSTEMS), help="what to make (see below)")
    p.add_argument(
        "-n", "--frames", type=positive_int, default=100, help="frames (default %(default)s)"
    )
    p.add_argument("-o", "--output", required=True, help="extxyz file to write")
    p.add_argument(
        "--molecules",
        type=int,
        nargs=2,
        default=(1, 16),
        metavar=("MIN", "MAX"),
        help="molecules per water cluster or box (default 1 16)",
    )
    p.add_argument(
        "--field",
        type=float,
        nargs="+",
        default=[0.0],
        metavar="AU",
        help="applied field magnitude in atomic units (1 au = 51.42 V/Å), or MIN MAX for a "
        "uniform draw per frame; default none",
    )
    p.add_argument(
        "--field-fraction",
        type=float,
        default=1.0,
        help="fraction of frames with the field (default %(default)s)",
    )
    p.add_argument(
        "--field-axis",
        default="random",
        choices=["random", "x", "y", "z"],
        help="field direction (default: random per frame)",
    )
    p.add_argument("--bec", action="store_true", help="finite-difference Born effective charges")
    p.add_argument(
        "--polarizability",
        action="store_true",
        help="polarizability alpha = dmu/dE at fixed nuclei (e*A^2/V) by central finite fields "
        "(open frames; shares the 6 single points of --bec)",
    )
    p.add_argument("--input", help="extxyz file whose open frames the system 'file' labels")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
