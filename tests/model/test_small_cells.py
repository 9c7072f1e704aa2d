"""A cell smaller than twice the cutoff: every periodic image is found, so the energy per cell
equals that of a 2×2×2 supercell exactly (short range) and to the Ewald accuracy (long range)."""

import numpy as np
import pytest
import torch
from ase import Atoms

from polmlip import keys
from polmlip.data import atoms_to_graph
from polmlip.model import ModelConfig, PolMLIP


def test_small_cell_equals_supercell():
    torch.manual_seed(1)
    cfg = ModelConfig(
        elements=["H", "O"], channels=6, cutoff=4.0, kspace_method="ewald", kspace_accuracy=1e-9
    )
    model = PolMLIP(cfg).double()
    rng = np.random.default_rng(0)
    cell = np.array([[3.1, 0.0, 0.0], [0.4, 3.3, 0.0], [-0.3, 0.2, 3.0]])  # < 2 × cutoff
    atoms = Atoms("OHH", scaled_positions=rng.random((3, 3)), cell=cell, pbc=True)
    small = model(atoms_to_graph(atoms, cfg.elements, cfg.cutoff), compute_stress=True)
    big_atoms = atoms.repeat((2, 2, 2))
    big = model(atoms_to_graph(big_atoms, cfg.elements, cfg.cutoff), compute_stress=True)
    assert float(big[keys.ENERGY].detach()) == pytest.approx(
        8 * float(small[keys.ENERGY].detach()), rel=1e-8
    )
    f_small = small[keys.FORCES].detach().numpy()
    f_big = big[keys.FORCES].detach().numpy()[:3]
    assert np.allclose(f_big, f_small, atol=1e-7)
    assert torch.allclose(big[keys.STRESS], small[keys.STRESS], atol=1e-8)
