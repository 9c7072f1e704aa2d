"""``polmlip ir``: IR spectrum of an MD trajectory from the autocorrelation of dP/dt.

Registered on the ``polmlip`` subcommands with :func:`add_parser` (``polmlip ir --help``).
"""

from __future__ import annotations

import argparse

from .args import add_trajectory_arguments, read_spectrum_inputs

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
    add_trajectory_arguments(p, "ir_spectrum")
    p.add_argument("--model", help="exported model (Born charges / dipoles when needed)")
    p.add_argument(
        "--source",
        choices=["auto", "bec", "dipole"],
        default="auto",
        help="dP/dt from Born charges x velocities (bec), from finite differences of the "
        "dipole (dipole), or the first that works, bec first (default: %(default)s)",
    )
    p.add_argument("--temperature", type=float, default=300.0, help="K, for the quantum correction")
    p.add_argument(
        "--quantum-correction",
        choices=["none", "harmonic", "standard"],
        default="none",
        help="multiply the classical lineshape by x/(1-exp(-x)) (harmonic) or 2/(1+exp(-x)) "
        "(standard), x = hbar*omega/(kB*T) (default: %(default)s)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``polmlip ir``; raises :class:`polmlip.errors.InputError` on bad input."""
    from ..workflows import ir

    frames, dt, calc = read_spectrum_inputs(args)
    dmdt, route = ir.trajectory_dipole_derivative(
        frames, dt, calc, source=args.source, progress=not args.quiet
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
