"""LO–TO splitting at Γ from a polmlip model (or any ASE calculator) through phonopy.

Force constants come from finite displacements in a supercell (phonopy); the non-analytic
correction (NAC) uses the Born effective charges Z* and the electronic dielectric tensor
ε∞ of the model:

* ``born_charges``: Z*_κ,βγ = ∂P_β/∂r_κγ (e) from the calculator's ``bec`` property;
  first index = polarization (field) component, second = displacement, as in phonopy.
* ``dielectric_tensor``: ε∞ = I + 4π k_e α / V with α = ∂P/∂E (e·Å²/V) by central
  differences of the polarization in an applied field, V the cell volume (Å³), k_e = COULOMB.
* ``lo_to``: Γ frequencies along q → 0 directions with NAC (LO and TO) and without (analytic).

q-directions are given in Cartesian coordinates (e.g. (1, 0, 0) is the cubic [100]
direction of the input cell's frame) and converted to the reduced reciprocal coordinates of
phonopy's primitive cell as ``q_red = A_prim @ q_cart`` (A_prim: primitive lattice vectors
as rows), which is what ``nac_q_direction`` expects.
"""

from __future__ import annotations

import dataclasses
import pathlib
import warnings
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import InputError
from ..fileio import save_figure
from ..units import COULOMB, SQRT_EV_PER_A2_AMU_TO_THZ, THZ_TO_INV_CM

#: Default q → 0 directions (Cartesian).
DEFAULT_DIRECTIONS = ((1.0, 0.0, 0.0), (1.0, 1.0, 0.0), (1.0, 1.0, 1.0))
_DEGENERATE_THZ = 1e-4


def dielectric_tensor(atoms, calc, field: float = 0.01) -> np.ndarray:
    """ε∞ (3, 3) from central differences of the polarization P (e·Å) in a field ±f (V/Å).

    ``calc`` must have ``set_external_field`` and the ``polarization`` property (polmlip's
    ASE calculator); its field is restored afterwards. Returns the symmetrized tensor
    I + 4π k_e (∂P/∂E) / V, V = cell volume in Å³.
    """
    if not field > 0:
        raise InputError(f"field step must be > 0 V/Å, got {field}")
    if not hasattr(calc, "set_external_field"):
        raise InputError("dielectric_tensor needs a calculator with set_external_field")
    if not np.asarray(atoms.pbc).all():
        raise InputError("dielectric_tensor needs a periodic structure")
    old = np.array(getattr(calc, "external_field", np.zeros(3)), dtype=np.float64)
    alpha = np.zeros((3, 3))
    try:
        for k in range(3):
            p = []
            for sign in (1.0, -1.0):
                calc.set_external_field(old + sign * field * np.eye(3)[k])
                p.append(np.asarray(calc.get_property("polarization", atoms), dtype=np.float64))
            alpha[:, k] = (p[0] - p[1]) / (2.0 * field)
    finally:
        calc.set_external_field(old)
    eps = np.eye(3) + 4.0 * np.pi * COULOMB * alpha / atoms.get_volume()
    return 0.5 * (eps + eps.T)


def born_charges(atoms, calc, asr: bool = True) -> np.ndarray:
    """Born effective charges (N, 3, 3) in e; ``asr`` removes the mean so that Σ_κ Z*_κ = 0."""
    z = np.array(calc.get_property("bec", atoms), dtype=np.float64)
    if z.shape != (len(atoms), 3, 3):
        raise InputError(
            f"calculator returned bec of shape {z.shape}, expected ({len(atoms)}, 3, 3)"
        )
    if asr:
        z = z - z.mean(axis=0, keepdims=True)
    return z


@dataclasses.dataclass
class LOTOResult:
    """Γ-point frequencies along q → 0 directions.

    Attributes:
        directions: (D, 3) Cartesian unit vectors q̂.
        q_directions: (D, 3) the same directions in reduced primitive reciprocal coordinates.
        to_thz, lo_thz: per direction, transverse and longitudinal optical frequencies
            (THz, ν not ω) with the NAC on (LO = longitudinal character > 1/2).
        gamma_thz: (3n,) Γ frequencies without the NAC (analytic part), THz.
        born: (n_prim, 3, 3) Z* (e) used for the NAC (after the ASR), primitive-cell order.
        epsilon: (3, 3) ε∞.
        nac: whether the NAC was applied (without it LO = TO).
        phonon: the phonopy object (force constants, NAC parameters).
    """

    directions: np.ndarray
    q_directions: np.ndarray
    to_thz: List[List[float]]
    lo_thz: List[List[float]]
    gamma_thz: np.ndarray
    born: np.ndarray
    epsilon: np.ndarray
    nac: bool
    phonon: Any = dataclasses.field(repr=False, default=None)

    def summary(self) -> List[Dict[str, Any]]:
        """Per direction: highest TO and LO (THz and cm⁻¹) and their splitting."""
        rows = []
        for d, to, lo in zip(self.directions, self.to_thz, self.lo_thz):
            t = max(to) if to else float("nan")
            o = max(lo) if lo else float("nan")
            rows.append(
                {
                    "direction": [float(x) for x in d],
                    "to_thz": t,
                    "lo_thz": o,
                    "to_cm": t * THZ_TO_INV_CM,
                    "lo_cm": o * THZ_TO_INV_CM,
                    "split_cm": (o - t) * THZ_TO_INV_CM,
                }
            )
        return rows

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready dictionary (no phonopy object)."""
        return {
            "nac": self.nac,
            "summary": self.summary(),
            "directions": self.directions.tolist(),
            "q_directions_reduced": self.q_directions.tolist(),
            "to_thz": self.to_thz,
            "lo_thz": self.lo_thz,
            "to_cm": [[f * THZ_TO_INV_CM for f in x] for x in self.to_thz],
            "lo_cm": [[f * THZ_TO_INV_CM for f in x] for x in self.lo_thz],
            "gamma_thz_no_nac": self.gamma_thz.tolist(),
            "born_charges_e": self.born.tolist(),
            "primitive_symbols": list(self.phonon.primitive.symbols) if self.phonon else None,
            "epsilon_inf": self.epsilon.tolist(),
        }

    def table(self) -> str:
        """Plain-text table: direction, TO, LO and split in cm⁻¹."""
        lines = [f"{'direction':>12} {'TO [cm-1]':>10} {'LO [cm-1]':>10} {'split':>8}"]
        for r in self.summary():
            d = "[" + " ".join(f"{x:.3g}" for x in r["direction"]) + "]"
            lines.append(f"{d:>12} {r['to_cm']:10.2f} {r['lo_cm']:10.2f} {r['split_cm']:8.2f}")
        return "\n".join(lines)


def _phonopy_atoms(atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=np.asarray(atoms.get_cell()),
        scaled_positions=atoms.get_scaled_positions(),
        masses=atoms.get_masses(),
    )


def _ase_atoms(cell):
    from ase import Atoms

    return Atoms(
        symbols=list(cell.symbols),
        cell=cell.cell,
        scaled_positions=cell.scaled_positions,
        masses=cell.masses,
        pbc=True,
    )


def _primitive_from_unitcell(phonon) -> np.ndarray:
    """Unit-cell atom index (n_prim,) of each atom of phonopy's primitive cell."""
    sc = phonon.supercell
    return np.array([sc.u2u_map[sc.s2u_map[s]] for s in phonon.primitive.p2s_map])


def _check_directions(directions) -> np.ndarray:
    d = np.asarray(directions, dtype=np.float64)
    if d.ndim == 1:
        d = d[None]
    if d.ndim != 2 or d.shape[1] != 3 or len(d) == 0:
        raise InputError(f"directions must be a list of 3-vectors, got {directions!r}")
    norms = np.linalg.norm(d, axis=1)
    if not np.isfinite(d).all() or (norms < 1e-12).any():
        raise InputError(f"directions must be finite non-zero 3-vectors, got {directions!r}")
    return d / norms[:, None]


def _classify(freqs, vecs, masses, q_hat):
    """Split Γ modes into (TO, LO) optical frequency lists; acoustic modes are dropped.

    ``vecs`` (3n, 3n): mass-weighted eigenvectors as columns. Degenerate subspaces are
    rotated to diagonalize the longitudinal projector, so the character is well defined.
    """
    n = len(masses)
    vecs = np.array(vecs, dtype=np.complex128)
    trans = np.zeros((3 * n, 3))
    for a in range(3):
        trans[a::3, a] = np.sqrt(masses)
    trans /= np.linalg.norm(trans, axis=0)
    acoustic = np.argsort(-np.sum(np.abs(trans.T @ vecs) ** 2, axis=0))[:3]
    longi = np.zeros((3 * n, 3 * n))
    for k in range(n):
        longi[3 * k : 3 * k + 3, 3 * k : 3 * k + 3] = np.outer(q_hat, q_hat)
    to, lo = [], []
    optical = [i for i in range(3 * n) if i not in set(acoustic.tolist())]
    groups: List[List[int]] = []
    for i in optical:
        if groups and abs(freqs[i] - freqs[groups[-1][-1]]) < _DEGENERATE_THZ:
            groups[-1].append(i)
        else:
            groups.append([i])
    for g in groups:
        sub = vecs[:, g]
        char = np.linalg.eigvalsh(sub.conj().T @ longi @ sub)
        for i, c in zip(g, char):
            (lo if c > 0.5 else to).append(float(freqs[i]))
    return sorted(to), sorted(lo)


def lo_to(
    unitcell_atoms,
    calc,
    supercell: Sequence[int] = (2, 2, 2),
    displacement: float = 0.01,
    born: Optional[np.ndarray] = None,
    epsilon: Optional[np.ndarray] = None,
    directions: Sequence[Sequence[float]] = DEFAULT_DIRECTIONS,
    progress: bool = True,
    nac: bool = True,
    field: float = 0.01,
    primitive_matrix: Any = "auto",
) -> LOTOResult:
    """Γ-point LO and TO frequencies of a crystal with the NAC from Z* and ε∞.

    Args:
        unitcell_atoms: periodic ASE Atoms (the phonopy unit cell), positions in Å.
        calc: ASE calculator for forces (eV/Å); for the NAC it must also give ``bec`` and
            ``polarization`` in a field unless ``born`` and ``epsilon`` are given.
        supercell: repetitions of the unit cell for the finite-displacement force constants.
        displacement: finite displacement in Å.
        born: (n_unit, 3, 3) Z* in e of the unit-cell atoms; default from ``calc`` (ASR on).
        epsilon: (3, 3) ε∞; default :func:`dielectric_tensor` with step ``field`` (V/Å).
        directions: Cartesian q → 0 directions (any length).
        nac: apply the non-analytic correction (without it, LO = TO).
        primitive_matrix: phonopy's primitive matrix ("auto" finds it from symmetry).
    """
    from phonopy import Phonopy
    from tqdm import tqdm

    if not np.asarray(unitcell_atoms.pbc).all():
        raise InputError("lo_to needs a periodic unit cell (pbc in x, y, z)")
    reps = np.asarray(supercell, dtype=int)
    if reps.shape != (3,) or (reps < 1).any():
        raise InputError(f"supercell must be three positive integers, got {supercell!r}")
    if not 0 < displacement < 0.5:
        raise InputError(f"displacement must be in (0, 0.5) Å, got {displacement}")
    dirs = _check_directions(directions)
    unit = unitcell_atoms.copy()
    unit.calc = None
    with warnings.catch_warnings():  # "auto" is asked for on purpose (phonopy ≥ 4 warns)
        warnings.filterwarnings("ignore", message="primitive_matrix defaulted")
        phonon = Phonopy(
            _phonopy_atoms(unit), supercell_matrix=np.diag(reps), primitive_matrix=primitive_matrix
        )
    phonon.generate_displacements(distance=displacement)
    forces = []
    for sc in tqdm(
        phonon.supercells_with_displacements, desc="displacements", disable=not progress
    ):
        a = _ase_atoms(sc)
        a.calc = calc
        forces.append(np.array(a.get_forces(), dtype=np.float64))
    phonon.forces = np.array(forces)
    phonon.produce_force_constants()

    idx = _primitive_from_unitcell(phonon)
    z = np.zeros((len(idx), 3, 3))
    eps = np.eye(3)
    if nac:
        if born is None:
            born = born_charges(unit, calc, asr=True)
        born = np.asarray(born, dtype=np.float64)
        if born.shape != (len(unit), 3, 3):
            raise InputError(f"born must have shape ({len(unit)}, 3, 3), got {born.shape}")
        eps = dielectric_tensor(unit, calc, field) if epsilon is None else np.asarray(epsilon)
        if eps.shape != (3, 3):
            raise InputError(f"epsilon must be a 3x3 tensor, got shape {eps.shape}")
        z = born[idx]
        phonon.nac_params = {"born": z, "dielectric": eps, "factor": COULOMB}

    masses = np.asarray(phonon.primitive.masses)
    pcell = np.asarray(phonon.primitive.cell)
    qdirs = np.array([pcell @ d for d in dirs])
    to_all, lo_all = [], []
    for d, qd in zip(dirs, qdirs):
        qp = phonon.run_qpoints([[0.0, 0.0, 0.0]], with_eigenvectors=True, nac_q_direction=qd)
        to, lo = _classify(qp.frequencies[0], qp.eigenvectors[0], masses, d)
        to_all.append(to)
        lo_all.append(lo)
    gamma = np.array(phonon.run_qpoints([[0.0, 0.0, 0.0]]).frequencies[0])
    return LOTOResult(dirs, qdirs, to_all, lo_all, gamma, z, eps, nac, phonon)


def _band_path(phonon):
    """Γ–X–K–Γ–L for an fcc primitive lattice, else Γ–X–M–Γ–R (reduced coordinates)."""
    pcell = np.asarray(phonon.primitive.cell)
    lengths = np.linalg.norm(pcell, axis=1)
    cosines = [pcell[i] @ pcell[j] / (lengths[i] * lengths[j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    if np.allclose(lengths, lengths[0], rtol=1e-4) and np.allclose(cosines, 0.5, atol=1e-4):
        a = lengths[0] * np.sqrt(2.0)
        # Cartesian points (1/Å, no 2π) of the cubic fcc zone; reduced: q_red = A_prim @ q_cart
        cart = {
            "Γ": (0, 0, 0),
            "X": (0, 1, 0),
            "K": (0.75, 0.75, 0),
            "L": (0.5, 0.5, 0.5),
        }
        red = {k: pcell @ (np.array(v, dtype=float) / a) for k, v in cart.items()}
        # orientation-independent alternative if the cell is not cube-aligned
        if not all(np.allclose(r * 2, np.round(r * 2), atol=1e-3) for r in (red["X"], red["L"])):
            red = {
                "Γ": np.zeros(3),
                "X": np.array([0.5, 0.0, 0.5]),
                "K": np.array([0.375, 0.375, 0.75]),
                "L": np.array([0.5, 0.5, 0.5]),
            }
        labels = ["Γ", "X", "K", "Γ", "L"]
    else:
        red = {
            "Γ": np.zeros(3),
            "X": np.array([0.5, 0.0, 0.0]),
            "M": np.array([0.5, 0.5, 0.0]),
            "R": np.array([0.5, 0.5, 0.5]),
        }
        labels = ["Γ", "X", "M", "Γ", "R"]
    return [[red[k] for k in labels]], labels


def band_structure_png(phonon, path_png, npoints: int = 51) -> pathlib.Path:
    """Plot the phonon bands (NAC on if set) along Γ–X–K–Γ–L (fcc) to a PNG; returns the path.

    Left axis: frequency in THz; right axis: the same in cm⁻¹.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

    if npoints < 2:
        raise InputError(f"npoints must be ≥ 2, got {npoints}")
    paths, labels = _band_path(phonon)
    qpoints, connections = get_band_qpoints_and_path_connections(paths, npoints=npoints)
    bands = phonon.run_band_structure(qpoints, path_connections=connections, labels=labels)
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    ticks = [0.0]
    for dist, freq in zip(bands.distances, bands.frequencies):
        ax.plot(dist, freq, "-", color="tab:blue", lw=1.2)
        ticks.append(float(dist[-1]))
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels)
    for t in ticks:
        ax.axvline(t, color="0.7", lw=0.6)
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylabel("frequency [THz]")
    sec = ax.secondary_yaxis(
        "right", functions=(lambda f: f * THZ_TO_INV_CM, lambda w: w / THZ_TO_INV_CM)
    )
    sec.set_ylabel("frequency [cm⁻¹]")
    ax.set_title("phonon bands" + (" (NAC on)" if phonon.nac_params else ""))
    fig.tight_layout()
    path_png = pathlib.Path(path_png)
    path_png.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path_png)
    plt.close(fig)
    return path_png


def rigid_ion_splitting_thz2(charge: float, masses: Sequence[float], volume: float) -> float:
    """Analytic ν_LO² − ν_TO² (THz²) of a diatomic rigid-ion cubic crystal (ε∞ = 1).

    ω_LO² − ω_TO² = 4π k_e Z² / (μ V) with μ = m₁m₂/(m₁+m₂) (amu), V the primitive
    volume (Å³); converted from eV/(Å²·amu) to THz² (ν = ω/2π).
    """
    m1, m2 = masses
    mu = m1 * m2 / (m1 + m2)
    return 4.0 * np.pi * COULOMB * charge**2 / (mu * volume) * SQRT_EV_PER_A2_AMU_TO_THZ**2
