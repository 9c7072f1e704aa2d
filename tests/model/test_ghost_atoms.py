"""The engine contract with ghost atoms (as LAMMPS provides them): local atoms plus explicit
periodic images within one cutoff (and a margin), zero edge shifts, edges with local
receivers, and a halo exchange that gives each ghost its owner's features (here the
one-process map ``polmlip.ops.halo_owners``). Energy, virial, charges, polarization, Born
charges and (after folding ghost rows onto their owners) forces equal the plain periodic
evaluation, whatever the number of layers."""

import numpy as np
import pytest
import torch
import vesin

from polmlip import keys
from polmlip.data import atoms_to_graph
from polmlip.export.adapter import engine_inputs
from polmlip.export.engine_model import EngineModel
from polmlip.ops import halo_owners

from model_helpers import water_cluster


def _with_ghosts(atoms, ghost_cutoff, cutoff):
    pos = atoms.get_positions(wrap=True)
    cell = atoms.get_cell().array
    n = len(atoms)
    reps = [
        int(np.ceil(ghost_cutoff / (1.0 / np.linalg.norm(np.linalg.inv(cell)[:, d])))) + 1
        for d in range(3)
    ]
    ghost_pos, owner = [], []
    inv = np.linalg.inv(cell)
    for a in range(-reps[0], reps[0] + 1):
        for b in range(-reps[1], reps[1] + 1):
            for c in range(-reps[2], reps[2] + 1):
                if a == b == c == 0:
                    continue
                shifted = pos + np.array([a, b, c]) @ cell
                frac = shifted @ inv
                # keep images within ghost_cutoff of the cell (in fractional distance per axis)
                margin = ghost_cutoff * np.linalg.norm(inv, axis=0)
                keep = np.all((frac > -margin) & (frac < 1 + margin), axis=1)
                ghost_pos.append(shifted[keep])
                owner.extend(np.nonzero(keep)[0])
    all_pos = np.concatenate([pos] + ghost_pos)
    owner = np.concatenate([np.arange(n), np.array(owner, dtype=int)])
    nl = vesin.NeighborList(cutoff=cutoff, full_list=True)
    i, j = nl.compute(points=all_pos, box=np.zeros((3, 3)), periodic=False, quantities="ij")
    local = i < n  # receivers are local atoms
    return all_pos, owner, np.stack([i[local], j[local]]).astype(np.int64)


def _ghost_inputs(atoms, graph, cutoff):
    """Engine inputs of ``atoms`` with explicit ghost images to one cutoff (+ 0.5 Å), edges
    from local receivers, and the owner of every row (for ``halo_owners``)."""
    pos, owner, edges = _with_ghosts(atoms, cutoff + 0.5, cutoff)
    owner = torch.from_numpy(owner)
    inputs = engine_inputs(graph)
    inputs.update(
        {
            keys.SPECIES: graph[keys.SPECIES][owner],
            keys.POSITIONS: torch.tensor(pos),
            keys.EDGE_INDEX: torch.from_numpy(edges),
            keys.EDGE_SHIFT: torch.zeros(edges.shape[1], 3, dtype=torch.long),
            keys.NUM_LOCAL: torch.tensor(len(atoms)),
        }
    )
    return inputs, owner


@pytest.mark.parametrize("field", [(0.0, 0.0, 0.0), (0.05, 0.0, -0.03)])
def test_ghost_evaluation_equals_periodic(full_model, field):
    atoms = water_cluster(4, seed=5, box=6.0)
    cfg = full_model.config_dict
    engine = EngineModel(full_model)
    g = atoms_to_graph(atoms, cfg["elements"], cfg["cutoff"], external_field=field)
    ref = engine(engine_inputs(g), [keys.FORCES, keys.VIRIAL])
    assert full_model.ghost_layers() == 1
    inputs, owner = _ghost_inputs(atoms, g, cfg["cutoff"])
    assert len(owner) > 2 * len(atoms)  # the ghosts matter
    with halo_owners(owner):
        out = engine(inputs, [keys.FORCES, keys.VIRIAL])
    assert float(out[keys.ENERGY]) == pytest.approx(float(ref[keys.ENERGY]), rel=1e-10)
    folded = torch.zeros(len(atoms), 3, dtype=torch.float64)
    folded.index_add_(0, owner, out[keys.FORCES])
    assert torch.allclose(folded, ref[keys.FORCES], atol=1e-9)
    assert torch.allclose(out[keys.VIRIAL], ref[keys.VIRIAL], atol=1e-9)
    for key in (keys.CHARGES, keys.INDUCED_CHARGES, keys.DIPOLES, keys.POLARIZATION):
        assert torch.allclose(out[key], ref[key], atol=1e-10), key


def test_ghost_bec_equals_periodic(full_model):
    """Born charges with ghosts: rows per graph atom, folded onto owners, equal the plain
    periodic ones (the halo's adjoint carries the derivatives across the exchange)."""
    atoms = water_cluster(3, seed=8, box=6.0)
    cfg = full_model.config_dict
    engine = EngineModel(full_model)
    g = atoms_to_graph(atoms, cfg["elements"], cfg["cutoff"], external_field=(0, 0.02, 0))
    ref = engine(engine_inputs(g), [keys.FORCES, keys.BEC])
    inputs, owner = _ghost_inputs(atoms, g, cfg["cutoff"])
    with halo_owners(owner):
        out = engine(inputs, [keys.FORCES, keys.BEC])
    folded = torch.zeros(len(atoms), 3, 3, dtype=torch.float64)
    folded.index_add_(0, owner, out[keys.BEC])
    assert torch.allclose(folded, ref[keys.BEC], atol=1e-9)


def test_ghosts_without_an_exchange_are_refused(full_model):
    """Ghost rows hold partial features unless their owners' are copied in: a frame with
    ghosts and no halo exchange is an error, not a silent wrong answer."""
    atoms = water_cluster(2, seed=1, box=6.0)
    inputs = engine_inputs(atoms_to_graph(atoms, ["H", "O"], 3.5))
    inputs[keys.NUM_LOCAL] = torch.tensor(3)
    mask = inputs[keys.EDGE_INDEX][0] < 3
    inputs[keys.EDGE_INDEX] = inputs[keys.EDGE_INDEX][:, mask]
    inputs[keys.EDGE_SHIFT] = inputs[keys.EDGE_SHIFT][mask]
    with pytest.raises(Exception, match="no halo exchange is installed"):
        EngineModel(full_model)(inputs, [keys.FORCES])
    inputs = engine_inputs(atoms_to_graph(atoms, ["H", "O"], 3.5))
    inputs[keys.NUM_LOCAL] = torch.tensor(3)
    with pytest.raises(Exception, match="edges must have local receivers"):
        EngineModel(full_model)(inputs, [keys.FORCES])


@pytest.mark.parametrize("conservation", ["uniform", "bond"])
def test_rank_without_local_atoms(conservation):
    """A domain with only ghost atoms (possible with many MPI ranks) contributes nothing and
    still makes every exchange (here mapped onto rows that exist in this process)."""
    from polmlip.model import ModelConfig, PolMLIP

    torch.manual_seed(0)
    cfg = ModelConfig(elements=["H", "O"], channels=6, cutoff=3.5, charge_conservation=conservation)
    engine = EngineModel(PolMLIP(cfg).double())
    atoms = water_cluster(2, seed=1, box=6.0)
    inputs = engine_inputs(atoms_to_graph(atoms, ["H", "O"], 3.5))
    inputs[keys.NUM_LOCAL] = torch.tensor(0)
    inputs[keys.EDGE_INDEX] = inputs[keys.EDGE_INDEX][:, :0]
    inputs[keys.EDGE_SHIFT] = inputs[keys.EDGE_SHIFT][:0]
    with halo_owners(torch.arange(len(atoms))):
        out = engine(inputs, [keys.FORCES, keys.VIRIAL])
    assert float(out[keys.ENERGY]) == 0.0
    assert torch.all(out[keys.FORCES] == 0) and torch.all(out[keys.VIRIAL] == 0)


def _split_inputs(atoms, graph, cfg):
    """Engine inputs with ghost images to the real-space cutoff of the Ewald split (+ 0.5 Å),
    which reaches beyond the network's cutoff: the extra ghosts carry multipoles only."""
    reach = max(cfg["cutoff"], cfg["real_space_cutoff"]) + 0.5
    pos, owner, edges = _with_ghosts(atoms, reach, cfg["cutoff"])
    inputs, _ = _ghost_inputs(atoms, graph, cfg["cutoff"])
    owner = torch.from_numpy(owner)
    inputs.update(
        {
            keys.SPECIES: graph[keys.SPECIES][owner],
            keys.POSITIONS: torch.tensor(pos),
            keys.EDGE_INDEX: torch.from_numpy(edges),
            keys.EDGE_SHIFT: torch.zeros(edges.shape[1], 3, dtype=torch.long),
        }
    )
    return inputs, owner


def test_ewald_split_with_ghosts_equals_periodic_split(full_model):
    """The split's real-space pairs over explicit ghost images (the multipoles through the
    halo) equal the periodic pair search to rounding, and both equal the unsplit sum to the
    requested accuracy; forces, virial, charges, Born charges included."""
    atoms = water_cluster(4, seed=5, box=6.0)
    cfg = full_model.config_dict
    engine = EngineModel(full_model)
    g = atoms_to_graph(atoms, cfg["elements"], cfg["cutoff"], external_field=(0.03, 0, 0.02))
    wanted = [keys.FORCES, keys.VIRIAL, keys.BEC]
    unsplit = engine(engine_inputs(g), wanted)
    engine.set_ewald_split(True)
    try:
        split = engine(engine_inputs(g), wanted)
        inputs, owner = _split_inputs(atoms, g, cfg)
        assert int(inputs[keys.POSITIONS].shape[0]) > len(_ghost_inputs(atoms, g, cfg["cutoff"])[1])
        with halo_owners(owner):
            ghosts = engine(inputs, wanted)
    finally:
        engine.set_ewald_split(False)
    assert float(ghosts[keys.ENERGY]) == pytest.approx(float(split[keys.ENERGY]), rel=1e-10)
    for key, width in ((keys.FORCES, 3), (keys.BEC, 9)):
        folded = torch.zeros(len(atoms), width, dtype=torch.float64)
        folded.index_add_(0, owner, ghosts[key].reshape(len(owner), width))
        assert torch.allclose(folded, split[key].reshape(len(atoms), width), atol=1e-9), key
    assert torch.allclose(ghosts[keys.VIRIAL], split[keys.VIRIAL], atol=1e-9)
    ref_f = unsplit[keys.FORCES]
    err = float((split[keys.FORCES] - ref_f).norm() / ref_f.norm())
    assert err < 1e-4  # network and electrostatic forces together; the long range alone: below
    assert float(split[keys.ENERGY]) == pytest.approx(float(unsplit[keys.ENERGY]), rel=1e-5)
