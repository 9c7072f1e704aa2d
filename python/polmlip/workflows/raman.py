"""Raman spectra from MD: Fourier transforms of the polarizability autocorrelation.

The polarizability α(t) (3×3, e·Å²/V) along a trajectory splits into its isotropic part
a = tr α / 3 and its traceless part β = α − a I. For an isotropic sample (orientational
averages of a symmetric tensor) the classical lineshapes are

    G_iso(ν̃)   = ∫ dt w(t) ⟨δa(0) δa(t)⟩ cos(2π c ν̃ t)
    G_aniso(ν̃) = ∫ dt w(t) ⟨Σ_ij β_ij(0) β_ij(t)⟩ cos(2π c ν̃ t)

and the polarized and depolarized (90°) spectra are VV = G_iso + (2/15) G_aniso and
VH = (1/10) G_aniso (from ⟨α_zz²⟩ = a² + (2/15) tr β² and ⟨α_zx²⟩ = (1/10) tr β²). The
*isotropic* spectrum is G_iso = VV − (4/3) VH and the *anisotropic* one is VH.

Frequency and temperature factors (``prefactor``), with x = h c ν̃ / (k_B T):

* ``"reduced"`` (default): R(ν̃) = ν̃² G(ν̃), the reduced Raman spectrum
  R = ν̃ (1 − e^{−x}) I / (ν̃_L − ν̃)⁴ of a measured Stokes intensity I, written for a
  classical correlation (harmonic quantum correction βħω/(1 − e^{−βħω})); it is the
  spectrum of dα/dt, independent of T and of the laser, and what MD spectra are usually
  compared with;
* ``"intensity"``: the Stokes intensity I(ν̃) = (ν̃_L − ν̃)⁴ R(ν̃) / (ν̃ (1 − e^{−x})) for a laser
  of wavelength ``laser_nm`` at temperature T;
* ``"none"``: the classical lineshapes G(ν̃).

All columns share one normalisation (the maximum of VV is 1), so relative intensities of
the isotropic and anisotropic spectra are kept. α comes from the model (``polarizability``
of :class:`polmlip.ase.PolMLIPCalculator`, ∂P/∂E at fixed nuclei; periodic cells included)
or is read from the frames (e.g. ``xtb_polarizability`` of ``polmlip datagen file
--polarizability``).
"""

from __future__ import annotations

import pathlib
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
from tqdm.auto import tqdm

from ..errors import InputError
from ..fileio import atomic_write, save_figure
from ..units import HC_OVER_KB_CM_K
from .ir import MIN_FRAMES, _bare, _check_same_atoms, band_positions, correlation_spectrum
from .ir_io import spectrum_outputs

#: Columns of a Raman spectrum (besides the wavenumber), in the order written.
COLUMNS = ("isotropic", "anisotropic", "polarized")
PREFACTORS = ("reduced", "intensity", "none")


def trajectory_polarizability(
    frames: Sequence, calc=None, key: Optional[str] = None, progress: bool = True
) -> np.ndarray:
    """(T, 3, 3) polarizability in e·Å²/V along a trajectory.

    Args:
        frames: ASE Atoms, equally spaced in time, the same atoms in the same order.
        calc: an ASE calculator with a ``polarizability`` property (the model), used when
            ``key`` is None.
        key: name of a polarizability stored with every frame (``info``, 9 numbers or 3×3).
        progress: show a progress bar while the model runs.
    """
    frames = list(frames)
    if len(frames) < MIN_FRAMES:
        raise InputError(
            f"the trajectory has {len(frames)} frames; a Raman spectrum needs at least "
            f"{MIN_FRAMES} (and thousands for a converged spectrum)"
        )
    _check_same_atoms(frames)
    if key is not None:
        out = []
        for k, atoms in enumerate(frames):
            if key not in atoms.info:
                raise InputError(
                    f"frame {k} has no polarizability {key!r}; its info has {sorted(atoms.info)}"
                )
            value = np.asarray(atoms.info[key], dtype=np.float64)
            if value.size != 9:
                raise InputError(f"frame {k}: {key!r} has {value.size} numbers, expected 9")
            out.append(value.reshape(3, 3))
        return np.stack(out)
    if calc is None:
        raise InputError(
            "give a model (--model MODEL.pt) or the name of a polarizability stored in the "
            "frames (--key)"
        )
    return np.stack(
        [
            np.asarray(calc.get_property("polarizability", _bare(a)), dtype=np.float64)
            for a in tqdm(frames, desc="polarizability", unit="frame", disable=not progress)
        ]
    )


def raman_spectra(
    alpha,
    dt_fs: float,
    max_lag_fs: Optional[float] = None,
    window: str = "hann",
    prefactor: str = "reduced",
    temperature_K: float = 300.0,
    laser_nm: float = 532.0,
    max_wavenumber: Optional[float] = 4500.0,
) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """Isotropic, anisotropic (VH) and polarized (VV) Raman spectra (see the module).

    Args:
        alpha: (T, 3, 3) polarizability in e·Å²/V at equally spaced times.
        dt_fs: time between rows in fs.
        max_lag_fs, window, max_wavenumber: as :func:`polmlip.workflows.ir.correlation_spectrum`.
        prefactor: ``"reduced"``, ``"intensity"`` or ``"none"`` (module docstring).
        temperature_K: temperature of the ``"intensity"`` prefactor, K.
        laser_nm: laser wavelength of the ``"intensity"`` prefactor, nm.

    Returns:
        wavenumber (M,) cm⁻¹; name → (M,) for :data:`COLUMNS`, in one arbitrary unit with the
        maximum of ``polarized`` at 1.
    """
    a = np.asarray(alpha, dtype=np.float64)
    if a.ndim != 3 or a.shape[1:] != (3, 3):
        raise InputError(f"the polarizability must have shape (T, 3, 3), got {a.shape}")
    if prefactor not in PREFACTORS:
        raise InputError(f"prefactor must be one of {list(PREFACTORS)}, got {prefactor!r}")
    iso = np.trace(a, axis1=1, axis2=2) / 3.0
    traceless = a - iso[:, None, None] * np.eye(3)
    wn, g_iso = correlation_spectrum(
        iso[:, None], dt_fs, max_lag_fs, window, max_wavenumber, "polarizability"
    )
    _, g_aniso = correlation_spectrum(
        traceless.reshape(len(a), 9), dt_fs, max_lag_fs, window, max_wavenumber, "polarizability"
    )
    factor = _prefactor(wn, prefactor, temperature_K, laser_nm)
    spectra = {
        "isotropic": g_iso * factor,
        "anisotropic": g_aniso * factor / 10.0,
        "polarized": (g_iso + 2.0 * g_aniso / 15.0) * factor,
    }
    top = float(spectra["polarized"].max()) if wn.size else 0.0
    if not top > 0:
        raise InputError(
            "the polarizability autocorrelation has no spectral weight (is α constant?)"
        )
    return wn, {k: v / top for k, v in spectra.items()}


def _prefactor(wn: np.ndarray, kind: str, temperature_K: float, laser_nm: float) -> np.ndarray:
    """The frequency and temperature factor on a classical lineshape (module docstring)."""
    if kind == "none":
        return np.ones_like(wn)
    reduced = wn**2
    if kind == "reduced":
        return reduced
    if not (np.isfinite(temperature_K) and temperature_K > 0):
        raise InputError(f"the temperature must be positive (K), got {temperature_K!r}")
    if not (np.isfinite(laser_nm) and laser_nm > 0):
        raise InputError(f"the laser wavelength must be positive (nm), got {laser_nm!r}")
    laser = 1e7 / laser_nm
    x = HC_OVER_KB_CM_K * wn / temperature_K
    out = np.zeros_like(wn)
    ok = (wn > 0) & (wn < laser)
    out[ok] = (laser - wn[ok]) ** 4 * reduced[ok] / (wn[ok] * -np.expm1(-x[ok]))
    return out


def spectral_overlap(a, b) -> float:
    """Normalised inner product Σ a b / (|a| |b|) of two spectra on the same grid (1 = same
    shape)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)))


def raman_bands(
    wavenumber, spectra: Mapping[str, np.ndarray], bands=None
) -> Dict[str, Dict[str, float]]:
    """Band positions (cm⁻¹, :func:`polmlip.workflows.ir.band_positions`) of each spectrum."""
    return {name: band_positions(wavenumber, y, bands) for name, y in spectra.items()}


def write_raman(
    path_prefix,
    wavenumber,
    spectra: Mapping[str, np.ndarray],
    meta: Optional[Mapping] = None,
    bands: Optional[Mapping[str, Mapping[str, float]]] = None,
    xmax: float = 4500.0,
) -> Tuple[pathlib.Path, pathlib.Path]:
    """Write ``<prefix>.dat`` (wavenumber and :data:`COLUMNS`, header with units, settings and
    bands) and ``<prefix>.png`` (the three spectra)."""
    plt, dat, png = spectrum_outputs(path_prefix)
    wn = np.asarray(wavenumber, dtype=np.float64)
    head = ["Raman spectra: cosine transforms of the polarizability autocorrelation (polmlip)"]
    head += [f"{k}: {v}" for k, v in (meta or {}).items()]
    for name, found in (bands or {}).items():
        head += [f"band {name} {k}: {v:.1f} cm^-1" for k, v in found.items()]
    head += [
        "isotropic = G_iso; anisotropic = VH = G_aniso/10; polarized = VV = G_iso + 2 G_aniso/15",
        "columns: wavenumber [cm^-1]  " + "  ".join(COLUMNS) + "  [arb. units, max VV = 1]",
    ]
    table = np.column_stack([wn] + [np.asarray(spectra[c]) for c in COLUMNS])
    atomic_write(
        dat,
        lambda tmp: np.savetxt(tmp, table, fmt="%.6g", header="\n".join(head), encoding="utf-8"),
    )
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = {
        "polarized": "polarized (VV)",
        "isotropic": "isotropic",
        "anisotropic": "anisotropic (VH)",
    }
    for k, name in enumerate(("polarized", "isotropic", "anisotropic")):
        ax.plot(wn, spectra[name], lw=1.2, color=f"C{k}", label=labels[name])
    ax.set_xlim(0, xmax)
    ax.set_xlabel("wavenumber [cm⁻¹]")
    ax.set_ylabel("Raman intensity [arb. units]")
    ax.legend(frameon=False)
    fig.tight_layout()
    save_figure(fig, png)
    plt.close(fig)
    return dat, png
