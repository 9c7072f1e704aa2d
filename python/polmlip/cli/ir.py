"""``polmlip ir``: IR spectrum of an MD trajectory from the autocorrelation of dP/dt.

Registered on the ``polmlip`` subcommands with :func:`add_parser` (``polmlip ir --help``).
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
IR spectrum of an MD trajectory: Fourier transform of the windowed autocorrelation of
dP/dt, with dP/dt = sum_i Z*_i v_i (Born charges from --model and velocities stored in the
frames; works for periodic systems) or central differences of a dipole stored in every
frame (extxyz 'dipole'), or of the model's dipole (open systems only). Writes PREFIX.dat
(wavenumber in cm^-1, intensity) and PREFIX.png, and prints the band positions.
"""

EPILOG = """\
--timestep is the time between STORED frames (MD time step x dump interval), in fs.

examples:
  polmlip ir traj.extxyz --timestep 2.5 --model model.pt -o water_ir
  polmlip ir dump.lammpstrj --elements O H --timestep 5 --model model.pt
  polmlip ir cluster_with_dipoles.extxyz --timestep 0.5 --quantum-correction harmonic
"""


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``ir`` subcommand to an ``argparse`` subparsers object."""
    p = sub.add_parser(
        "ir",
        help="IR spectrum of an MD trajectory (dP/dt autocorrelation)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("trajectory", metavar="TRAJ", help="extxyz, LAMMPS text dump, or ASE-readable")
    p.add_argument(
        "-t",
        "--timestep",
        type=float,
        required=True,
        metavar="FS",
        help="time between stored frames in fs (MD time step x dump interval)",
    )
    p.add_argument("--model", help="exported model (Born charges / dipoles when needed)")
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
        "--source",
        choices=["auto", "bec", "dipole"],
        default="auto",
        help="dP/dt from Born charges x velocities (bec), from finite differences of the "
        "dipole (dipole), or the first that works, bec first (default: %(default)s)",
    )
    p.add_argument(
        "--max-lag",
        type=float,
        metavar="FS",
        help="longest correlation lag in fs (default: half the trajectory); "
        "resolution ~ 33356 / max-lag cm^-1",
    )
    p.add_argument("--window", choices=["hann", "none"], default="hann", help="lag window")
    p.add_argument("--temperature", type=float, default=300.0, help="K, for the quantum correction")
    p.add_argument(
        "--quantum-correction",
        choices=["none", "harmonic", "standard"],
        default="none",
        help="multiply the classical lineshape by x/(1-exp(-x)) (harmonic) or 2/(1+exp(-x)) "
        "(standard), x = hbar*omega/(kB*T) (default: %(default)s)",
    )
    p.add_argument("--stride", type=int, default=1, metavar="N", help="use every N-th stored frame")
    p.add_argument(
        "--xmax", type=float, default=4500.0, help="upper wavenumber in cm^-1 (default: 4500)"
    )
    p.add_argument("--total-charge", type=float, default=0.0, help="e, passed to the model")
    p.add_argument("--device", default="cpu", help="model device: cpu or cuda")
    p.add_argument("-o", "--output", default="ir_spectrum", metavar="PREFIX", help="output prefix")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``polmlip ir``; raises :class:`polmlip.errors.InputError` on bad input."""
    from ..errors import InputError
    from ..fileio import check_output
    from ..units import SPEED_OF_LIGHT_CM_PER_FS
    from ..workflows import ir

    if args.stride < 1:
        raise InputError(f"--stride must be a positive integer, got {args.stride}")
    for suffix in (".dat", ".png"):
        check_output(args.output + suffix, "results", inputs=[args.trajectory, args.model])
    frames = ir.read_trajectory(args.trajectory, args.fmt, args.elements, args.lammps_units)
    frames = frames[:: args.stride]
    dt = args.timestep * args.stride
    ir.check_timestep(frames, dt)
    calc = None
    if args.model:
        from ..ase import PolMLIPCalculator

        calc = PolMLIPCalculator(args.model, device=args.device, total_charge=args.total_charge)
    if not args.xmax > 0:
        raise InputError(f"--xmax must be a positive wavenumber in cm^-1, got {args.xmax}")
    dmdt, route = ir.trajectory_dipole_derivative(
        frames, dt, calc, source=args.source, progress=not args.quiet
    )
    nyquist = 0.5 / (SPEED_OF_LIGHT_CM_PER_FS * dt)
    if nyquist < args.xmax:
        print(
            f"warning: frames {dt:g} fs apart resolve only up to {nyquist:.0f} cm^-1",
            file=sys.stderr,
        )
    qc = None if args.quantum_correction == "none" else args.quantum_correction
    wn, inten = ir.ir_spectrum(
        dmdt, dt, args.max_lag, args.window, args.temperature, qc, max_wavenumber=args.xmax
    )
    bands = ir.band_positions(wn, inten)
    max_lag = args.max_lag if args.max_lag is not None else (len(dmdt) // 2) * dt
    meta = {
        "trajectory": args.trajectory,
        "frames": len(frames),
        "time between frames [fs]": dt,
        "dP/dt source": route,
        "max lag [fs]": max_lag,
        "window": args.window,
        "quantum correction": args.quantum_correction,
        "temperature [K]": args.temperature,
    }
    dat, png = ir.write_spectrum(args.output, wn, inten, meta, bands, xmax=args.xmax)
    print(f"dP/dt from {route}: {len(dmdt)} samples, {dt:g} fs apart, max lag {max_lag:g} fs")
    for name, pos in bands.items():
        print(f"  {name:8s} {pos:8.1f} cm^-1")
    print(f"wrote {dat}, {png}")
    return 0
