"""``polmlip raman``: Raman spectra of an MD trajectory from the polarizability autocorrelation.

Registered on the ``polmlip`` subcommands with :func:`add_parser` (``polmlip raman --help``).
"""

from __future__ import annotations

import argparse

from .args import add_trajectory_arguments, read_spectrum_inputs

DESCRIPTION = """\
Raman spectra of an MD trajectory: cosine transforms of the windowed autocorrelations of the
isotropic part a = tr(alpha)/3 and of the traceless part beta of the polarizability alpha
(e*A^2/V), from --model (alpha = dP/dE at fixed nuclei, every response channel; open and
periodic systems) or read from the frames (--key, e.g. xtb_polarizability). Writes PREFIX.dat
(wavenumber in cm^-1; isotropic, anisotropic = VH and polarized = VV spectra, one common
normalisation) and PREFIX.png, and prints the band positions.

prefactors (--prefactor), x = h c nu / (kB T):
  reduced    R(nu) = nu^2 G(nu): the reduced Raman spectrum nu (1 - e^-x) I / (nu_L - nu)^4
             of a classical correlation G (harmonic quantum correction); default
  intensity  Stokes intensity (nu_L - nu)^4 R / (nu (1 - e^-x)) for --laser NM and --temperature
  none       the classical lineshape G(nu)
"""

EPILOG = """\
--timestep is the time between STORED frames (MD time step x dump interval), in fs.

examples:
  polmlip raman traj.extxyz --timestep 2.5 --model model.pt -o water_raman
  polmlip raman dump.lammpstrj --elements O H --timestep 5 --model model.pt
  polmlip raman xtb_labelled.extxyz --timestep 1 --key xtb_polarizability -o xtb_raman
"""


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``raman`` subcommand to an ``argparse`` subparsers object."""
    p = sub.add_parser(
        "raman",
        help="Raman spectra of an MD trajectory (polarizability autocorrelation)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_trajectory_arguments(p, "raman_spectrum")
    p.add_argument("--model", help="exported model: the polarizability of every frame")
    p.add_argument(
        "--key", metavar="NAME", help="read the polarizability stored in the frames (info NAME)"
    )
    p.add_argument(
        "--prefactor",
        choices=["reduced", "intensity", "none"],
        default="reduced",
        help="frequency and temperature factor (see above; default: %(default)s)",
    )
    p.add_argument("--temperature", type=float, default=300.0, help="K (prefactor intensity)")
    p.add_argument(
        "--laser", type=float, default=532.0, metavar="NM", help="nm (prefactor intensity)"
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Handler of ``polmlip raman``; raises :class:`polmlip.errors.InputError` on bad input."""
    from ..errors import InputError
    from ..workflows import raman

    if (args.model is None) == (args.key is None):
        raise InputError("give either --model MODEL.pt or --key NAME (a stored polarizability)")
    frames, dt, calc = read_spectrum_inputs(args)
    alpha = raman.trajectory_polarizability(frames, calc, args.key, progress=not args.quiet)
    wn, spectra = raman.raman_spectra(
        alpha,
        dt,
        args.max_lag,
        args.window,
        args.prefactor,
        args.temperature,
        args.laser,
        max_wavenumber=args.xmax,
    )
    bands = raman.raman_bands(wn, spectra)
    max_lag = args.max_lag if args.max_lag is not None else (len(alpha) // 2) * dt
    meta = {
        "trajectory": args.trajectory,
        "frames": len(frames),
        "time between frames [fs]": dt,
        "polarizability": f"stored {args.key}" if args.key else f"model {args.model}",
        "max lag [fs]": max_lag,
        "window": args.window,
        "prefactor": args.prefactor,
    }
    if args.prefactor == "intensity":
        meta.update({"temperature [K]": args.temperature, "laser [nm]": args.laser})
    dat, png = raman.write_raman(args.output, wn, spectra, meta, bands, xmax=args.xmax)
    print(f"polarizability of {len(alpha)} frames, {dt:g} fs apart, max lag {max_lag:g} fs")
    for name, found in bands.items():
        text = ", ".join(f"{k} {v:.1f}" for k, v in found.items())
        print(f"  {name:12s} {text} cm^-1")
    print(f"wrote {dat}, {png}")
    return 0
