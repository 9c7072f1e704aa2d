"""Infrared spectra from MD: Fourier transform of the autocorrelation of dP/dt.

Classical linear response gives the IR absorption (absorption coefficient × refractive index)

    α(ω) n(ω) ∝ β ∫ dt e^{−iωt} ⟨Ṗ(0)·Ṗ(t)⟩ = β ω² ∫ dt e^{−iωt} ⟨P(0)·P(t)⟩,

so the spectrum of the dipole *derivative* already carries the ω² factor of the
absorption; no further frequency factor is applied here. dP/dt comes either from
Born effective charges, dP_β/dt = Σ_i Z*_i,βγ v_iγ (valid for periodic systems, where
P itself is only defined modulo a polarization quantum), or from finite differences
of a dipole stored along the trajectory (open systems, or trusted stored dipoles).

Units: time fs, dipole e·Å, dP/dt e·Å/fs, Born charges e, velocities Å/fs,
wavenumbers cm⁻¹ (ν̃ = f / c with f in 1/fs and c in cm/fs). Intensities are in
arbitrary units, normalised to a maximum of 1 over the returned range.

Reading and writing of trajectories and spectra lives in :mod:`polmlip.workflows.ir_io`
and is re-exported here.
"""

from __future__ import annotations

import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from ase import units as ase_units
from tqdm.auto import tqdm

from ..errors import InputError
from ..units import HC_OVER_KB_CM_K, SPEED_OF_LIGHT_CM_PER_FS
from .ir_io import check_timestep, read_trajectory, write_spectrum

__all__ = [
    "DEFAULT_BANDS",
    "MIN_FRAMES",
    "band_positions",
    "check_timestep",
    "correlation_spectrum",
    "dipole_derivative_fd",
    "dipole_derivative_from_bec",
    "ir_spectrum",
    "quantum_correction_factor",
    "read_trajectory",
    "trajectory_dipole_derivative",
    "write_spectrum",
]

#: Fewest frames (after finite differences) from which a spectrum is computed.
MIN_FRAMES = 8
#: Search windows (cm⁻¹) of the liquid-water bands: bend ~1640, O–H stretch ~3400.
DEFAULT_BANDS: Dict[str, Tuple[float, float]] = {
    "bend": (1300.0, 2000.0),
    "stretch": (2600.0, 4200.0),
}
#: Finest wavenumber grid (cm⁻¹) produced by zero padding before the cosine transform.
GRID_CM = 1.0


def dipole_derivative_from_bec(bec, velocities) -> np.ndarray:
    """dP_β/dt = Σ_i Z*_i,βγ v_iγ.

    Args:
        bec: (T, N, 3, 3) Born effective charges in e, Z*_i[β, γ] = ∂P_β/∂r_iγ.
        velocities: (T, N, 3) in Å/fs.

    Returns:
        (T, 3) dipole derivative in e·Å/fs.
    """
    z = np.asarray(bec, dtype=np.float64)
    v = np.asarray(velocities, dtype=np.float64)
    if z.ndim != 4 or z.shape[2:] != (3, 3) or v.shape != z.shape[:3]:
        raise InputError(
            f"Born charges must be (T, N, 3, 3) and velocities (T, N, 3), got {z.shape} and "
            f"{v.shape}"
        )
    return np.einsum("tnbg,tng->tb", z, v)


def dipole_derivative_fd(dipoles, dt_fs: float) -> np.ndarray:
    """Central finite difference of the dipole, (P[t+1] − P[t−1]) / (2 Δt).

    Second-order accurate (error ≈ (ω Δt)²/6 relative at angular frequency ω); the
    first and last frames are dropped, so row k belongs to frame k + 1.

    Args:
        dipoles: (T, 3) dipole / polarization in e·Å, one row per stored frame.
        dt_fs: time between stored frames in fs.

    Returns:
        (T − 2, 3) dipole derivative in e·Å/fs.
    """
    p = np.asarray(dipoles, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or p.shape[0] < 3:
        raise InputError(f"dipoles must be (T, 3) with T >= 3, got shape {p.shape}")
    _check_dt(dt_fs)
    return (p[2:] - p[:-2]) / (2.0 * dt_fs)


def quantum_correction_factor(wavenumber, temperature_K: float, kind: str = "harmonic"):
    """Factor multiplying a classical lineshape to approximate the quantum one.

    ``"harmonic"``: x / (1 − e^{−x}) with x = βħω = hcν̃/(k_B T). It is exact for a
    harmonic system (the classical correlation equals the Kubo-transformed quantum one)
    and is the usual choice for IR spectra from classical MD with the ω² (dP/dt) form;
    it tends to 1 as ω → 0 and grows ≈ x at high frequency (x ≈ 16 for 3400 cm⁻¹ at 300 K),
    so it mainly raises high-frequency bands relative to low-frequency ones.
    ``"standard"``: 2 / (1 + e^{−x}) (Egelstaff/Schofield-type "standard" correction).

    Args:
        wavenumber: array of ν̃ in cm⁻¹ (≥ 0).
        temperature_K: temperature in K.

    Returns:
        dimensionless factor, same shape as ``wavenumber``.
    """
    if not np.isfinite(temperature_K) or temperature_K <= 0:
        raise InputError(f"temperature must be positive in K, got {temperature_K!r}")
    x = HC_OVER_KB_CM_K * np.asarray(wavenumber, dtype=np.float64) / temperature_K
    if kind == "harmonic":
        small = np.abs(x) < 1e-8
        safe = np.where(small, 1.0, x)
        return np.where(small, 1.0 + 0.5 * x, safe / -np.expm1(-safe))
    if kind == "standard":
        return 2.0 / (1.0 + np.exp(-x))
    raise InputError(f"quantum correction must be none, harmonic or standard, got {kind!r}")


def correlation_spectrum(
    x,
    dt_fs: float,
    max_lag_fs: Optional[float] = None,
    window: str = "hann",
    max_wavenumber: Optional[float] = 4500.0,
    what: str = "dP/dt",
) -> Tuple[np.ndarray, np.ndarray]:
    """∫ dt w(t) Σ_k ⟨x_k(0) x_k(t)⟩ cos(2π c ν̃ t) of a time series, unnormalised.

    The mean of each column is removed; the autocorrelation is computed by FFT with zero
    padding to ≥ 2T (no circular wrap-around) and the *unbiased* estimator
    C(τ) = Σ_t x(t)·x(t+τ) / (T − τ), summed over the columns. Lags beyond ``max_lag_fs``
    are dropped and the rest multiplied by a window over lags: ``"hann"``,
    w(τ) = cos²(πτ / (2L)) (1 at τ = 0, 0 at the last lag L), which tames the noisy
    long-lag tail of the unbiased estimator, or ``"none"``. The even correlation is
    cosine-transformed with a real FFT, zero padded to a grid of ≤ 1 cm⁻¹.

    Args:
        x: (T, K) samples at equally spaced times (K columns summed, e.g. x, y, z).
        dt_fs: time between rows in fs.
        max_lag_fs: longest correlation lag in fs (default: half the series); the
            resolution is ≈ 1 / (c · max_lag) cm⁻¹.
        window: "hann" or "none".
        max_wavenumber: upper end (cm⁻¹) of the returned range, capped at the Nyquist
            wavenumber 1 / (2 c Δt); None returns everything up to Nyquist.
        what: the name of the series in error messages.

    Returns:
        wavenumber (M,) in cm⁻¹ from 0; spectrum (M,) in (unit of x)² · fs.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"{what} must have shape (T, K), got {x.shape}")
    n = x.shape[0]
    if n < MIN_FRAMES:
        raise InputError(f"need at least {MIN_FRAMES} {what} samples for a spectrum, got {n}")
    if not np.isfinite(x).all():
        raise InputError(f"{what} contains NaN or infinite values")
    _check_dt(dt_fs)
    lag = _max_lag_steps(n, dt_fs, max_lag_fs)
    x = x - x.mean(axis=0)
    nfft = _next_pow2(2 * n)
    f = np.fft.rfft(x, nfft, axis=0)
    acf = np.fft.irfft((f * f.conj()).real, nfft, axis=0)[: lag + 1].sum(axis=1)
    acf /= n - np.arange(lag + 1)
    if window == "hann":
        acf *= np.cos(0.5 * np.pi * np.arange(lag + 1) / lag) ** 2
    elif window not in ("none", None):
        raise InputError(f"window must be 'hann' or 'none', got {window!r}")
    grid = 1.0 / (GRID_CM * SPEED_OF_LIGHT_CM_PER_FS * dt_fs)
    mfft = _next_pow2(max(2 * lag + 2, int(np.ceil(grid))))
    even = np.zeros(mfft)
    even[: lag + 1] = acf
    even[mfft - lag :] = acf[1:][::-1]
    spec = np.fft.rfft(even).real * dt_fs
    wn = np.fft.rfftfreq(mfft, d=dt_fs) / SPEED_OF_LIGHT_CM_PER_FS
    if max_wavenumber is not None:
        keep = wn <= max_wavenumber
        wn, spec = wn[keep], spec[keep]
    return wn, spec


def ir_spectrum(
    dmdt,
    dt_fs: float,
    max_lag_fs: Optional[float] = None,
    window: str = "hann",
    temperature_K: float = 300.0,
    quantum_correction: Optional[str] = None,
    max_wavenumber: Optional[float] = 4500.0,
) -> Tuple[np.ndarray, np.ndarray]:
    """IR spectrum I(ν̃) ∝ Q(ν̃) ∫ dt w(t) ⟨Ṗ(0)·Ṗ(t)⟩ cos(2π c ν̃ t).

    The correlation and its transform are those of :func:`correlation_spectrum`, summed
    over x, y, z.

    Args:
        dmdt: (T, 3) dP/dt in e·Å/fs at equally spaced times.
        dt_fs: time between rows in fs.
        max_lag_fs: longest correlation lag in fs (default: half the trajectory);
            the resolution is ≈ 1 / (c · max_lag) cm⁻¹.
        window: "hann" or "none".
        temperature_K: temperature (K) of the quantum correction.
        quantum_correction: None / "none", "harmonic" or "standard", see
            :func:`quantum_correction_factor`.
        max_wavenumber: upper end (cm⁻¹) of the returned range, capped at the Nyquist
            wavenumber 1 / (2 c Δt); None returns everything up to Nyquist.

    Returns:
        wavenumber (M,) in cm⁻¹ from 0, intensity (M,) in arbitrary units, maximum 1.
    """
    x = np.asarray(dmdt, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise InputError(f"dP/dt must have shape (T, 3), got {x.shape}")
    wn, spec = correlation_spectrum(x, dt_fs, max_lag_fs, window, max_wavenumber)
    if quantum_correction not in (None, "none"):
        spec = spec * quantum_correction_factor(wn, temperature_K, quantum_correction)
    top = spec.max() if spec.size else 0.0
    if not top > 0:
        raise InputError("the dP/dt autocorrelation has no spectral weight (is dP/dt constant?)")
    return wn, spec / top


def band_positions(
    wavenumber, intensity, bands: Optional[Dict[str, Tuple[float, float]]] = None
) -> Dict[str, float]:
    """Peak position of each band: the intensity-weighted centroid of the peak above half max.

    Within each search window (lo, hi) in cm⁻¹ the highest point is found, then the
    contiguous region around it where the intensity is ≥ half that maximum (inside the
    window); its centroid Σ ν̃ I / Σ I is less sensitive to the grid and to noise than
    the argmax. A window outside the data, or without positive intensity, gives NaN.

    Args:
        wavenumber: (M,) cm⁻¹, increasing.
        intensity: (M,) arbitrary units.
        bands: name → (lo, hi) cm⁻¹; default :data:`DEFAULT_BANDS` (liquid water).

    Returns:
        name → position in cm⁻¹.
    """
    wn = np.asarray(wavenumber, dtype=np.float64)
    y = np.asarray(intensity, dtype=np.float64)
    out: Dict[str, float] = {}
    for name, (lo, hi) in (DEFAULT_BANDS if bands is None else bands).items():
        idx = np.nonzero((wn >= lo) & (wn <= hi))[0]
        if idx.size == 0 or not y[idx].max() > 0:
            out[name] = float("nan")
            continue
        first, last = idx[0], idx[-1]
        top = idx[np.argmax(y[idx])]
        half = 0.5 * y[top]
        a = top
        while a > first and y[a - 1] >= half:
            a -= 1
        b = top
        while b < last and y[b + 1] >= half:
            b += 1
        seg = slice(a, b + 1)
        out[name] = float((wn[seg] * y[seg]).sum() / y[seg].sum())
    return out


def trajectory_dipole_derivative(
    frames: Sequence, dt_fs: float, calc=None, source: str = "auto", progress: bool = True
) -> Tuple[np.ndarray, str]:
    """dP/dt (e·Å/fs) along a trajectory of ASE Atoms, by the best available route.

    Routes (``source="auto"`` tries them in this order):

    * ``"bec"``: frames carry velocities (ASE momenta) and ``calc`` (e.g.
      :class:`polmlip.ase.PolMLIPCalculator`) gives Born charges per frame:
      dP/dt = Σ_i Z*_i v_i at every frame. Works for periodic systems.
    * ``"dipole"``: frames carry a dipole (``atoms.info["dipole"]`` or ``["polarization"]``,
      or the ``dipole`` result of an extxyz file's calculator): central differences.
    * ``"model-dipole"``: no stored dipoles, ``calc`` computes P per frame, central
      differences. Open (non-periodic) systems only: in a periodic cell P is multivalued.

    ``source`` may be "auto", "bec" or "dipole" ("dipole" uses stored dipoles, else the model's).

    Args:
        frames: list of ase.Atoms, equally spaced in time, same atoms in the same order.
        dt_fs: time between frames in fs.
        calc: ASE calculator with ``bec`` and ``polarization`` properties, or None.
        progress: show a progress bar while the model runs.

    Returns:
        (dP/dt of shape (T, 3) for "bec" or (T − 2, 3) otherwise, route name).
    """
    frames = list(frames)
    _check_dt(dt_fs)
    if source not in ("auto", "bec", "dipole"):
        raise InputError(f"source must be auto, bec or dipole, got {source!r}")
    if len(frames) < MIN_FRAMES + 2:
        raise InputError(
            f"the trajectory has {len(frames)} frames; an IR spectrum needs at least "
            f"{MIN_FRAMES + 2} (and thousands for a converged spectrum)"
        )
    _check_same_atoms(frames)
    periodic = any(bool(a.pbc.any()) for a in frames)
    has_v = all("momenta" in a.arrays for a in frames) and any(
        np.any(a.arrays["momenta"] != 0) for a in frames
    )
    stored = [_stored_dipole(a) for a in frames]
    has_p = all(p is not None for p in stored)

    if source == "bec" or (source == "auto" and has_v and calc is not None):
        if not has_v:
            raise InputError(
                "the Born-charge route needs velocities in every frame (extxyz 'momenta' as ASE "
                "writes them, LAMMPS vx vy vz); none were found"
            )
        if calc is None:
            raise InputError("the Born-charge route needs a model (--model MODEL.pt)")
        return _bec_route(frames, calc, progress), "bec"
    if has_p:
        if periodic:
            warnings.warn(
                "finite differences of stored dipoles of a periodic system: jumps by a "
                "polarization quantum corrupt the spectrum; prefer velocities + Born charges",
                stacklevel=2,
            )
        return dipole_derivative_fd(np.stack(stored), dt_fs), "dipole"
    if source == "dipole" and calc is None:
        raise InputError("the frames carry no dipole; store one or give a model (--model)")
    if periodic:
        raise InputError(
            "periodic trajectory without stored dipoles: the polarization of a periodic "
            "system is multivalued, so the spectrum needs velocities in the frames and a "
            "model for Born charges (--model, --source bec)"
        )
    if calc is None:
        what = "velocities but no dipoles" if has_v else "neither velocities nor dipoles"
        raise InputError(
            f"the frames carry {what}: give a model (--model MODEL.pt) for Born charges or "
            "dipoles, or store a dipole per frame (extxyz 'dipole')"
        )
    dip = [
        np.asarray(calc.get_property("polarization", _bare(a)), dtype=np.float64)
        for a in tqdm(frames, desc="dipoles", unit="frame", disable=not progress)
    ]
    return dipole_derivative_fd(np.stack(dip), dt_fs), "model-dipole"


def _bec_route(frames: List, calc, progress: bool) -> np.ndarray:
    """Σ_i Z*_i v_i per frame, with Z* from ``calc`` and v converted to Å/fs."""
    bec, vel = [], []
    for a in tqdm(frames, desc="Born charges", unit="frame", disable=not progress):
        bec.append(np.asarray(calc.get_property("bec", _bare(a)), dtype=np.float64))
        vel.append(a.get_velocities() * ase_units.fs)  # Å / ASE time → Å/fs
    return dipole_derivative_from_bec(np.stack(bec), np.stack(vel))


def _bare(atoms):
    """A copy without the frame's own (single-point) calculator."""
    a = atoms.copy()
    a.calc = None
    return a


def _stored_dipole(atoms) -> Optional[np.ndarray]:
    """(3,) e·Å dipole stored with a frame, or None."""
    from ase.calculators.singlepoint import SinglePointCalculator

    for key in ("dipole", "polarization"):
        if key in atoms.info:
            return np.asarray(atoms.info[key], dtype=np.float64).reshape(3)
    if isinstance(atoms.calc, SinglePointCalculator):
        for key in ("dipole", "polarization"):
            if key in atoms.calc.results:
                return np.asarray(atoms.calc.results[key], dtype=np.float64).reshape(3)
    return None


def _check_same_atoms(frames: List) -> None:
    ref = frames[0].get_chemical_symbols()
    for k, a in enumerate(frames):
        if a.get_chemical_symbols() != ref:
            raise InputError(
                f"frame {k} has different atoms than frame 0; the IR spectrum needs a "
                "trajectory of one fixed set of atoms in a fixed order"
            )


def _check_dt(dt_fs: float) -> None:
    if not (np.isfinite(dt_fs) and dt_fs > 0):
        raise InputError(f"the time step must be a positive number of fs, got {dt_fs!r}")


def _max_lag_steps(n: int, dt_fs: float, max_lag_fs: Optional[float]) -> int:
    if max_lag_fs is None:
        return max(1, n // 2)
    lag = int(round(max_lag_fs / dt_fs))
    if not 1 <= lag <= n - 1:
        raise InputError(
            f"max lag {max_lag_fs} fs must lie between one time step ({dt_fs} fs) and the "
            f"trajectory length ({(n - 1) * dt_fs:g} fs)"
        )
    return lag


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())
