"""Frames for model-level tests."""

import pathlib

import numpy as np
from ase import Atoms


def water_cluster(n=3, seed=0, box=None):
    """n rigid-ish water molecules, randomly placed and rotated; periodic if box is given."""
    rng = np.random.default_rng(seed)
    mol = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    pos, syms = [], []
    centers = []
    while len(centers) < n:
        c = rng.random(3) * (box if box else 2.2 * n ** (1 / 3) + 1.5)
        if all(np.linalg.norm(c - d) > 2.7 for d in centers):
            centers.append(c)
    for c in centers:
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        pos.extend(mol @ q.T + c + 0.05 * rng.normal(size=(3, 3)))
        syms.extend(["O", "H", "H"])
    atoms = Atoms(syms, positions=np.array(pos))
    if box:
        atoms.set_cell(np.diag([box, box * 1.05, box * 0.95]))
        atoms.set_pbc(True)
    return atoms


def rocksalt(a=5.64, rattle=0.1, seed=3):
    """A rattled 8-atom NaCl rock-salt cube (periodic)."""
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    pos = np.concatenate([base, base + [0.5, 0, 0]]) * a
    atoms = Atoms("Na4Cl4", positions=pos, cell=np.eye(3) * a, pbc=True)
    atoms.rattle(rattle, seed=seed)
    return atoms


def triclinic_water():
    """Six water molecules in a skewed periodic cell."""
    atoms = water_cluster(6, seed=7, box=8.0)
    atoms.set_cell([[8.0, 0, 0], [1.2, 8.2, 0], [-0.7, 0.9, 7.8]], scale_atoms=True)
    return atoms


def with_format_version(src, dst, version):
    """Copy an exported model file, rewriting its metadata's format_version."""
    import json
    import zipfile

    from polmlip.export.io import METADATA_FILE

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith(METADATA_FILE):
                meta = json.loads(data)
                meta["format_version"] = version
                data = json.dumps(meta).encode()
            zout.writestr(item, data)
    return dst


def engine_outputs(engine, meta, atoms, bec=True):
    """One call of an exported engine module on ``atoms``: energy, forces, stress (periodic)
    and Born charges, unoptimized as the ASE calculator runs it."""
    import torch

    from polmlip.data.graph import atoms_to_graph
    from polmlip.export.adapter import engine_inputs, requested_outputs

    g = atoms_to_graph(atoms, meta["elements"], float(meta["cutoff"]), [0.0, 0.0, 0.0], 0.0)
    requested = requested_outputs(True, bool(atoms.pbc.all()), bec)
    with torch.jit.optimized_execution(False):
        return engine(engine_inputs(g), requested)


def all_heads_config(**overrides):
    """A small H/O ModelConfig with every head and both response channels, summed by Ewald at
    1e-9 (engines agree to rounding); ``overrides`` replace settings."""
    from polmlip.model import ModelConfig

    settings = dict(
        elements=["H", "O"],
        channels=6,
        cutoff=3.5,
        quadrupoles=True,
        induced_charges=True,
        induced_dipoles=True,
        anisotropic_alpha=True,
        kspace_method="ewald",
        kspace_accuracy=1e-9,
    )
    settings.update(overrides)
    return ModelConfig(**settings)


#: the body of the mace-torch model of tests/references/mace (make_fixture.py there)
MACE_BODY = pathlib.Path(__file__).resolve().parents[1] / "references" / "mace" / "body.npz"


def mace_body_model(elements=("H", "O"), **settings):
    """A float64 PolMLIP on the body of the mace-torch model :data:`MACE_BODY` (its settings,
    its weights) with ``settings`` for the rest (heads, long range)."""
    from polmlip.model import ModelConfig, PolMLIP
    from polmlip.model.mace_body import load_mace_body, read_mace_body, with_mace_settings

    section = dict(settings, elements=list(elements), mace_body=str(MACE_BODY))
    model = PolMLIP(ModelConfig.from_dict(with_mace_settings(section, pathlib.Path("."))))
    load_mace_body(model, read_mace_body(MACE_BODY))
    return model.double()
