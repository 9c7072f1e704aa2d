"""The long-range settings fixed per run (``polmlip.electrostatics.tuning``): a smooth
energy surface where per-call tuning switches mesh, no collective for tuning on a force call,
and a new choice only when the cell moves beyond the tolerance or the engine asks."""

import pytest
import torch
from ase import Atoms

from polmlip.data.graph import atoms_to_graph
from polmlip.electrostatics import MultipoleElectrostatics
from polmlip.electrostatics.tuning import CELL_TOLERANCE
from polmlip.export.adapter import engine_inputs, requested_outputs
from polmlip.export.io import export_model, load_exported
from polmlip.model import ModelConfig, PolMLIP

from helpers import water_sites


def _energy(solver, pos, cell, q, mu):
    return float(solver(pos, cell, True, q, mu)[0].sum())


def test_energy_is_smooth_where_per_call_tuning_switches_mesh():
    """Fixed charges and dipoles grown as s μ₀: the exact energy is a quadratic in s.
    Per-call tuning re-picks the PME mesh along the path as the dipoles' weight grows (a
    piecewise surface, with steps at the accuracy's level); fixed tuning keeps one mesh, and
    E(s) stays one quadratic to rounding."""
    pos, cell, q = water_sites(96, seed=1)
    g = torch.Generator().manual_seed(2)
    mu = 0.4 * torch.randn(96, 3, generator=g, dtype=torch.float64)
    path = torch.linspace(0.0, 3.0, 31, dtype=torch.float64)
    energies, shapes = {}, {}
    for fixed in (False, True):
        solver = MultipoleElectrostatics(sigma=1.0, accuracy=1e-4, spline_order=5)
        solver.set_fixed_tuning(fixed)
        energies[fixed], shapes[fixed] = [], []
        for s in path.tolist():
            energies[fixed].append(_energy(solver, pos, cell, q, s * mu))
            shapes[fixed].append(tuple(solver.tuning.shape))
        if fixed:
            assert solver.tuning.tunings == 1
    assert len(set(shapes[False])) > 1, "the path should cross a per-call mesh switch"
    assert len(set(shapes[True])) == 1
    basis = torch.stack([torch.ones_like(path), path, path**2], dim=1)

    def misfit(values):
        e = torch.tensor(values, dtype=torch.float64)
        coef = torch.linalg.lstsq(basis, e[:, None]).solution
        return float((basis @ coef).flatten().sub(e).abs().max() / e.abs().max())

    assert misfit(energies[True]) < 1e-12
    assert misfit(energies[False]) > 1e-9  # the old surface steps where the mesh changes


def test_cell_change_beyond_tolerance_chooses_again_without_a_collective():
    pos, cell, q = water_sites(48, seed=3)
    solver = MultipoleElectrostatics(sigma=1.0, accuracy=1e-5)
    solver.set_fixed_tuning(True)
    solver(pos, cell, True, q)
    mags = list(solver.tuning.magnitudes)
    within = cell * (1.0 + 0.5 * CELL_TOLERANCE)
    solver(pos * (1.0 + 0.5 * CELL_TOLERANCE), within, True, q)
    assert solver.tuning.tunings == 1
    beyond = cell * 1.2
    solver(pos * 1.2, beyond, True, 0.5 * q)  # other charges: the stored magnitudes stay
    assert solver.tuning.tunings == 2
    assert solver.tuning.magnitudes == mags
    assert solver.tuning.shape != []
    solver.tuning.reset()
    solver(pos * 1.2, beyond, True, 0.5 * q)
    assert solver.tuning.magnitudes[0] == pytest.approx(0.25 * mags[0])


def _water_atoms(n_mol=32, seed=4):
    pos, cell, _ = water_sites(3 * n_mol, seed=seed)
    return Atoms(["O", "H", "H"] * n_mol, positions=pos.numpy(), cell=cell.numpy(), pbc=True)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    torch.manual_seed(0)
    model = PolMLIP(ModelConfig.from_dict({"elements": ["H", "O"], "channels": 4, "lmax": 1}))
    path = tmp_path_factory.mktemp("tuning") / "model.pt"
    export_model(model, path)
    return load_exported(path)


def _count(profile, name):
    return sum(e.count for e in profile.key_averages() if e.key == name)


def test_no_collective_for_tuning_on_a_force_call(engine):
    """One engine force call after the first, profiled: fixed tuning makes one
    ``polmlip::allreduce`` fewer per call (the magnitudes' global sum) than per-call tuning,
    and none of the remaining ones is for tuning."""
    module, meta = engine
    atoms = _water_atoms()
    g = atoms_to_graph(atoms, meta["elements"], float(meta["cutoff"]), [0.0, 0.0, 0.0], 0.0)
    inputs = engine_inputs(g)
    requested = requested_outputs(True, True, False)
    counts = {}
    for fixed in (True, False):
        module.model.electrostatics.solver.set_fixed_tuning(fixed)
        with torch.jit.optimized_execution(False):
            module(inputs, requested)
            with torch.profiler.profile() as prof:
                module(inputs, requested)
        counts[fixed] = _count(prof, "polmlip::allreduce")
    module.model.electrostatics.solver.set_fixed_tuning(True)
    assert counts[False] - counts[True] == 1
    assert module.model.electrostatics.solver.tuning.tunings >= 1


def test_md_path_keeps_one_setting_and_energy_matches_forces(engine):
    """Atoms moved along a straight path through the exported model: the settings are chosen
    once, and the energy change equals the work of the forces (trapezoid rule) to second
    order, so the surface has no steps."""
    module, meta = engine
    module.retune_long_range()
    solver = module.model.electrostatics.solver
    before = solver.tuning.tunings
    atoms = _water_atoms(seed=5)
    g = torch.Generator().manual_seed(6)
    direction = torch.randn(len(atoms), 3, generator=g, dtype=torch.float64).numpy()
    direction /= abs(direction).max()
    step = 0.002
    energies, works = [], []
    for i in range(21):
        moved = atoms.copy()
        moved.positions = atoms.positions + i * step * direction
        gi = atoms_to_graph(moved, meta["elements"], float(meta["cutoff"]), [0.0, 0.0, 0.0], 0.0)
        with torch.jit.optimized_execution(False):
            out = module(engine_inputs(gi), requested_outputs(True, True, False))
        energies.append(float(out["energy"]))
        works.append(float((out["forces"].numpy() * direction).sum()))
    assert solver.tuning.tunings == before + 1
    for i in range(20):
        de = energies[i + 1] - energies[i]
        trapezoid = -0.5 * (works[i] + works[i + 1]) * step
        assert abs(de - trapezoid) < 1e-3 * abs(trapezoid) + 1e-9
    assert "fixed for the run" in module.long_range_settings()
