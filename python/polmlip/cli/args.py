"""Argument types shared by the ``polmlip`` subcommands.

Every float option of every subcommand takes only finite numbers (:func:`finite_floats`
replaces argparse's ``float`` throughout), so ``nan`` or ``inf`` is a usage error (exit 2) and
never reaches a calculation.
"""

from __future__ import annotations

import argparse
import math


def finite_float(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {text!r}")
    return value


def finite_floats(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make every ``type=float`` option of ``parser`` and its subcommands finite-only."""
    for action in parser._actions:
        if action.type is float:
            action.type = finite_float
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                finite_floats(sub)
    return parser


def add_trajectory_arguments(p: argparse.ArgumentParser, default_output: str) -> None:
    """The options of a spectrum of an MD trajectory (``polmlip ir``, ``polmlip raman``):
    the trajectory and how to read it, the time between frames, the correlation window, the
    model's settings and the output prefix."""
    p.add_argument("trajectory", metavar="TRAJ", help="extxyz, LAMMPS text dump, or ASE-readable")
    p.add_argument(
        "-t",
        "--timestep",
        type=float,
        required=True,
        metavar="FS",
        help="time between stored frames in fs (MD time step x dump interval)",
    )
    p.add_argument("--format", dest="fmt", help="ASE format name (default: guessed)")
    p.add_argument(
        "--elements",
        nargs="+",
        metavar="EL",
        help="LAMMPS dumps: element of each atom type, in type order (e.g. O H)",
    )
    p.add_argument(
        "--lammps-units",
        default="metal",
        help="LAMMPS unit style of a dump (metal: A, A/ps; real: A, A/fs) (default: %(default)s)",
    )
    p.add_argument(
        "--max-lag",
        type=float,
        metavar="FS",
        help="longest correlation lag in fs (default: half the trajectory); "
        "resolution ~ 33356 / max-lag cm^-1",
    )
    p.add_argument("--window", choices=["hann", "none"], default="hann", help="lag window")
    p.add_argument("--stride", type=int, default=1, metavar="N", help="use every N-th stored frame")
    p.add_argument(
        "--xmax", type=float, default=4500.0, help="upper wavenumber in cm^-1 (default: 4500)"
    )
    p.add_argument("--total-charge", type=float, default=0.0, help="e, passed to the model")
    p.add_argument("--device", default="cpu", help="model device: cpu or cuda")
    p.add_argument("-o", "--output", default=default_output, metavar="PREFIX", help="output prefix")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def read_spectrum_inputs(args: argparse.Namespace):
    """(frames, time between the frames used in fs, model calculator or None) of the options
    of :func:`add_trajectory_arguments`; checks them and the outputs' writability first, and
    warns when the frames are too far apart for ``--xmax``."""
    import sys

    from ..errors import InputError
    from ..fileio import check_output
    from ..units import SPEED_OF_LIGHT_CM_PER_FS
    from ..workflows import ir

    if args.stride < 1:
        raise InputError(f"--stride must be a positive integer, got {args.stride}")
    if not args.xmax > 0:
        raise InputError(f"--xmax must be a positive wavenumber in cm^-1, got {args.xmax}")
    for suffix in (".dat", ".png"):
        check_output(args.output + suffix, "results", inputs=[args.trajectory, args.model])
    frames = ir.read_trajectory(args.trajectory, args.fmt, args.elements, args.lammps_units)
    frames = frames[:: args.stride]
    dt = args.timestep * args.stride
    ir.check_timestep(frames, dt)
    calc = None
    if args.model:
        from ..integrations.ase import PolMLIPCalculator

        calc = PolMLIPCalculator(args.model, device=args.device, total_charge=args.total_charge)
    nyquist = 0.5 / (SPEED_OF_LIGHT_CM_PER_FS * dt)
    if nyquist < args.xmax:
        print(
            f"warning: frames {dt:g} fs apart resolve only up to {nyquist:.0f} cm^-1",
            file=sys.stderr,
        )
    return frames, dt, calc
