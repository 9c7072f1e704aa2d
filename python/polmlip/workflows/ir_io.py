"""Trajectory input and spectrum output of the IR workflow (see :mod:`polmlip.workflows.ir`).

Velocities are kept in ASE's internal units inside ``ase.Atoms`` (Å per ASE time unit);
``atoms.get_velocities() * ase.units.fs`` is in Å/fs. LAMMPS dumps are converted by ASE
from the LAMMPS unit style (``metal``: Å and Å/ps) to those ASE units when read.
"""

from __future__ import annotations

import pathlib
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..fileio import atomic_write, save_figure

#: Accepted spellings of ASE's LAMMPS text dump format.
LAMMPS_FORMATS = ("lammps-dump-text", "lammps-dump", "lammps", "lammpstrj")
#: Default x range of the plot, cm⁻¹.
PLOT_XMAX = 4500.0


def read_trajectory(
    path, fmt: Optional[str] = None, elements: Optional[Sequence[str]] = None, lammps_units="metal"
) -> List:
    """All frames of a trajectory file as ASE Atoms.

    Args:
        path: extxyz (positions Å, optional momenta/velocities, per-frame ``dipole`` e·Å,
            ``time_fs``), LAMMPS text dump, or any file ASE reads.
        fmt: ASE format name; None guesses it (a file starting with ``ITEM: TIMESTEP`` is a
            LAMMPS text dump). "lammps" / "lammpstrj" mean ``lammps-dump-text``.
        elements: for LAMMPS dumps, the element of each atom type in type order
            (type 1 → elements[0]); required unless the dump has an ``element`` column.
        lammps_units: LAMMPS unit style of the dump ("metal": Å, Å/ps; "real": Å, Å/fs);
            ASE converts positions and velocities from it.

    Returns:
        list of ase.Atoms (velocities in ASE units, see the module docstring).
    """
    import ase.io

    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(f"trajectory file {str(path)!r} does not exist")
    if fmt in LAMMPS_FORMATS or (fmt is None and _is_lammps_dump(p)):
        fmt = "lammps-dump-text"
    kwargs: Dict = {}
    hint = ""
    if fmt == "lammps-dump-text":
        if elements is None and not _dump_has_element_column(p):
            raise InputError(
                "a LAMMPS dump stores atom types, not elements: give one element per type in "
                "type order (--elements O H)"
            )
        kwargs = {"specorder": list(elements) if elements else None, "units": lammps_units}
        hint = " (does --elements give one element per LAMMPS atom type, in type order?)"
    elif elements is not None:
        raise InputError("--elements is only used for LAMMPS dumps (atom types → elements)")
    try:
        frames = ase.io.read(str(p), index=":", format=fmt, **kwargs)
    except Exception as exc:  # ASE raises many exception types for unreadable files
        raise InputError(f"cannot read trajectory {str(path)!r}: {exc}{hint}") from None
    if not frames:
        raise InputError(f"trajectory file {str(path)!r} holds no frames")
    return list(frames)


def check_timestep(frames: Sequence, dt_fs: float, rtol: float = 1e-3) -> None:
    """If every frame has ``info["time_fs"]``, check that frames are ``dt_fs`` apart.

    Catches the common mix-up of the MD time step with the time between stored frames.
    """
    times = [a.info.get("time_fs") for a in frames]
    if len(times) < 2 or any(t is None for t in times):
        return
    steps = np.diff(np.asarray(times, dtype=np.float64))
    if not np.allclose(steps, dt_fs, rtol=rtol, atol=1e-9):
        raise InputError(
            f"frames are {np.median(steps):g} fs apart (time_fs in the file) but the time step "
            f"is {dt_fs:g} fs: --timestep is the time between stored frames (× --stride)"
        )


def spectrum_outputs(path_prefix) -> Tuple[object, pathlib.Path, pathlib.Path]:
    """(matplotlib.pyplot with the file backend, ``<prefix>.dat``, ``<prefix>.png``); the
    prefix's folder is created."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prefix = pathlib.Path(path_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    return plt, prefix.with_name(prefix.name + ".dat"), prefix.with_name(prefix.name + ".png")


def write_spectrum(
    path_prefix,
    wavenumber,
    intensity,
    meta: Optional[Mapping] = None,
    bands: Optional[Mapping[str, float]] = None,
    xmax: float = PLOT_XMAX,
) -> Tuple[pathlib.Path, pathlib.Path]:
    """Write ``<prefix>.dat`` (two columns, header with units and settings) and ``<prefix>.png``.

    Args:
        path_prefix: output path without suffix; parent folders are created.
        wavenumber: (M,) cm⁻¹.
        intensity: (M,) arbitrary units.
        meta: settings written into the header as ``key: value`` lines.
        bands: name → position (cm⁻¹) marked in the plot and listed in the header.
        xmax: upper end of the plotted range in cm⁻¹ (from 0).

    Returns:
        (data file, plot file).
    """
    plt, dat, png = spectrum_outputs(path_prefix)
    wn = np.asarray(wavenumber, dtype=np.float64)
    y = np.asarray(intensity, dtype=np.float64)
    bands = dict(bands or {})
    head = ["IR spectrum: cosine transform of the windowed autocorrelation of dP/dt (polmlip)"]
    head += [f"{k}: {v}" for k, v in (meta or {}).items()]
    head += [f"band {k}: {v:.1f} cm^-1" for k, v in bands.items()]
    head += ["columns: wavenumber [cm^-1]  IR intensity [arb. units, max 1]"]
    table = np.column_stack([wn, y])
    atomic_write(
        dat,
        lambda tmp: np.savetxt(tmp, table, fmt="%.6g", header="\n".join(head), encoding="utf-8"),
    )

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(wn, y, lw=1.2, color="C0")
    for k, (name, pos) in enumerate(bands.items()):
        if np.isfinite(pos):
            ax.axvline(pos, ls="--", lw=0.8, color=f"C{k + 1}")
            ax.text(pos, 1.02, f"{name}\n{pos:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xlim(0, xmax)
    ax.set_ylim(min(0.0, float(y.min(initial=0.0))), 1.18)
    ax.set_xlabel("wavenumber [cm⁻¹]")
    ax.set_ylabel("IR intensity [arb. units]")
    fig.tight_layout()
    save_figure(fig, png)
    plt.close(fig)
    return dat, png


def _head(path: pathlib.Path, lines: int = 12) -> List[str]:
    """First lines of a text file ([] when it is not text)."""
    out = []
    try:
        with open(path, encoding="utf-8", errors="strict") as fh:
            for _ in range(lines):
                line = fh.readline()
                if not line:
                    break
                out.append(line)
    except (UnicodeDecodeError, OSError):
        return []
    return out


def _is_lammps_dump(path: pathlib.Path) -> bool:
    head = _head(path, 1)
    return bool(head) and head[0].startswith("ITEM: TIMESTEP")


def _dump_has_element_column(path: pathlib.Path) -> bool:
    for line in _head(path, 40):
        if line.startswith("ITEM: ATOMS"):
            return "element" in line.split()[2:]
    return False
