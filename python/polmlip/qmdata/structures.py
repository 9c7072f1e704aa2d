"""Starting structures for MD, benchmarks and examples."""

from __future__ import annotations

import math

import numpy as np
from ase import Atoms

#: Water geometry: O–H 0.9572 Å, H–O–H 104.52° (TIP3P).
R_OH = 0.9572
HOH_DEGREES = 104.52
WATER_MASS_G = 18.015 / 6.02214076e23


def water_box(n_molecules: int, density: float = 1.0, seed: int = 0) -> Atoms:
    """A periodic cubic box of ``n_molecules`` randomly oriented waters.

    Molecules sit on the sites of a simple cubic grid (a random subset when the grid has
    more sites than molecules), so oxygens are at least one grid spacing apart (3.1 Å at
    1 g/cm³). Atom order O, H, H per molecule.

    Args:
        n_molecules: number of molecules. density: g/cm³. seed: random orientations.
    """
    if n_molecules < 1:
        raise ValueError("n_molecules must be positive")
    rng = np.random.default_rng(seed)
    volume = n_molecules * WATER_MASS_G / density * 1e24  # Å³
    length = volume ** (1.0 / 3.0)
    per_side = math.ceil(n_molecules ** (1.0 / 3.0) - 1e-9)
    spacing = length / per_side
    grid = np.stack(np.meshgrid(*[np.arange(per_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    sites = grid[np.sort(rng.choice(len(grid), n_molecules, replace=False))]
    half = math.radians(HOH_DEGREES) / 2
    local = np.array(
        [
            [0.0, 0.0, 0.0],
            [R_OH * math.sin(half), R_OH * math.cos(half), 0.0],
            [-R_OH * math.sin(half), R_OH * math.cos(half), 0.0],
        ]
    )
    local -= local.mean(0)
    positions = []
    for site in sites:
        rot, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        positions.append(local @ rot.T + (site + 0.5) * spacing)
    atoms = Atoms(
        "OH2" * n_molecules,
        positions=np.concatenate(positions),
        cell=np.eye(3) * length,
        pbc=True,
    )
    atoms.wrap()
    return atoms
