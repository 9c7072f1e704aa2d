"""A known fixed-charge teacher model for synthetic reference data.

Energy = k_e Σ_{i<j} q_i q_j / r_ij + Σ_{i<j} A exp(−r_ij/ρ) (open boundaries), with
fixed charges per element. Its Born effective charges are exactly q_i I. It is
computed with plain numpy, independently of polmlip's electrostatics, so a model
trained on it can be checked for recovering the charges.
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np
from ase import Atoms

from ..units import COULOMB

#: charges (e) of the default three-species teacher; a formula unit A B C is neutral
DEFAULT_CHARGES: Dict[str, float] = {"Na": 0.9, "Cl": -0.6, "O": -0.3}


def teacher_energy_forces(
    atoms: Atoms, charges: Dict[str, float], a: float = 800.0, rho: float = 0.3
):
    """Energy (eV) and forces (eV/Å) of the point-charge + Born–Mayer teacher."""
    pos = atoms.get_positions()
    q = np.array([charges[s] for s in atoms.get_chemical_symbols()])
    d = pos[:, None, :] - pos[None, :, :]
    r = np.linalg.norm(d, axis=-1)
    np.fill_diagonal(r, np.inf)
    coul = COULOMB * q[:, None] * q[None, :] / r
    rep = a * np.exp(-r / rho)
    energy = 0.5 * float((coul + rep).sum())
    dE_dr = -coul / r - rep / rho
    forces = -(dE_dr / r)[:, :, None] * d
    return energy, forces.sum(1)


def random_clusters(
    n_frames: int,
    units: int = 4,
    seed: int = 0,
    spread: float = 9.0,
    min_dist: float = 2.2,
    charges: Dict[str, float] = DEFAULT_CHARGES,
) -> List[Atoms]:
    """Random neutral clusters of ``units`` formula units, labelled with teacher energy/forces."""
    rng = np.random.default_rng(seed)
    symbols = list(charges) * units
    frames = []
    while len(frames) < n_frames:
        pos: List[np.ndarray] = []
        tries = 0
        while len(pos) < len(symbols) and tries < 10000:
            x = rng.random(3) * spread
            tries += 1
            if all(np.linalg.norm(x - y) > min_dist for y in pos):
                pos.append(x)
        if len(pos) < len(symbols):
            continue
        atoms = Atoms(symbols, positions=np.array(pos))
        e, f = teacher_energy_forces(atoms, charges)
        atoms.info["energy"] = e
        atoms.arrays["forces"] = f
        frames.append(atoms)
    return frames
