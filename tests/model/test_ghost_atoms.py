"""The engine contract with ghost atoms (as LAMMPS provides them): local atoms plus explicit
periodic images out to the ghost cutoff, zero edge shifts. Energy, virial and (after folding
ghost forces onto their owners) forces equal the plain periodic evaluation."""

import numpy as np
import pytest
import torch
import vesin

from polmlip import keys
from polmlip.data import atoms_to_graph
from polmlip.export.adapter import engine_inputs
from polmlip.export.engine_model import EngineModel

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
    return all_pos, owner, np.stack([i, j]).astype(np.int64)


@pytest.mark.parametrize("field", [(0.0, 0.0, 0.0), (0.05, 0.0, -0.03)])
def test_ghost_evaluation_equals_periodic(full_model, field):
    atoms = water_cluster(4, seed=5, box=6.0)
    cfg = full_model.config_dict
    engine = EngineModel(full_model)
    g = atoms_to_graph(atoms, cfg["elements"], cfg["cutoff"], external_field=field)
    ref = engine(engine_inputs(g), [keys.FORCES, keys.VIRIAL])
    ghost_cut = cfg["cutoff"] * full_model.ghost_layers()
    pos, owner, edges = _with_ghosts(atoms, ghost_cut + 0.5, cfg["cutoff"])
    species = g[keys.SPECIES][torch.from_numpy(owner)]
    inputs = engine_inputs(g)
    inputs.update(
        {
            keys.SPECIES: species,
            keys.POSITIONS: torch.tensor(pos),
            keys.EDGE_INDEX: torch.from_numpy(edges),
            keys.EDGE_SHIFT: torch.zeros(edges.shape[1], 3, dtype=torch.long),
            keys.NUM_LOCAL: torch.tensor(len(atoms)),
            keys.ATOM_INDEX: torch.from_numpy(owner),
        }
    )
    out = engine(inputs, [keys.FORCES, keys.VIRIAL])
    assert float(out[keys.ENERGY]) == pytest.approx(float(ref[keys.ENERGY]), rel=1e-10)
    folded = torch.zeros(len(atoms), 3, dtype=torch.float64)
    folded.index_add_(0, torch.from_numpy(owner), out[keys.FORCES])
    assert torch.allclose(folded, ref[keys.FORCES], atol=1e-9)
    assert torch.allclose(out[keys.VIRIAL], ref[keys.VIRIAL], atol=1e-9)
    assert torch.allclose(out[keys.CHARGES], ref[keys.CHARGES], atol=1e-12)


def _call_plain_graph(engine, atoms, n_local, atom_index=None):
    """The engine on the plain periodic graph of ``atoms``, zero field, virial on."""
    inputs = engine_inputs(atoms_to_graph(atoms, ["H", "O"], 3.5))
    inputs[keys.NUM_LOCAL] = torch.tensor(n_local)
    if atom_index is not None:
        inputs[keys.ATOM_INDEX] = atom_index
    return engine(inputs, [keys.FORCES, keys.VIRIAL])


def test_ghost_frames_without_atom_index_are_refused(full_model):
    """Bond charges read their ghosts' values from the owners: without the index that is
    impossible, and guessing from the ghosts' own (partial) features would be wrong."""
    atoms = water_cluster(2, seed=1, box=6.0)
    with pytest.raises(Exception, match="need the atom_index"):
        _call_plain_graph(EngineModel(full_model), atoms, 3)


@pytest.mark.parametrize("conservation", ["uniform", "bond"])
def test_rank_without_local_atoms(conservation):
    """A domain with only ghost atoms (possible with many MPI ranks) contributes nothing. In
    one process the ghosts' owners do not exist, so a bond model refuses the frame clearly."""
    from polmlip.model import ModelConfig, PolMLIP

    torch.manual_seed(0)
    cfg = ModelConfig(elements=["H", "O"], channels=6, cutoff=3.5, charge_conservation=conservation)
    engine = EngineModel(PolMLIP(cfg).double())
    atoms = water_cluster(2, seed=1, box=6.0)
    if conservation == "bond":
        with pytest.raises(Exception, match="atom_index holds an index beyond"):
            _call_plain_graph(engine, atoms, 0, torch.arange(len(atoms)))
        return
    out = _call_plain_graph(engine, atoms, 0)
    assert float(out[keys.ENERGY]) == 0.0
    assert torch.all(out[keys.FORCES] == 0) and torch.all(out[keys.VIRIAL] == 0)
