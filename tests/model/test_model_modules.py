"""The model as a chain of modules with declared inputs and outputs.

Each module of ``PolMLIP`` reads and writes named entries of one data dict. Run eagerly on a
dict that records every access, each module must read only keys it declares in ``inputs``
and write only keys it declares in ``outputs``; the chain run by hand equals the model; and
checkpoints written before the split (old state-dict names) still load.
"""

import pytest
import torch

from polmlip import keys
from polmlip.data import atoms_to_graph
from polmlip.model import ModelConfig, PolMLIP
from polmlip.model.derivatives import applied_field_at_sites, strained_geometry

from model_helpers import water_cluster


class RecordingDict(dict):
    """A dict that records the keys read (``[]``, ``in``, ``get``) and written."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read, self.written = set(), set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __setitem__(self, key, value):
        self.written.add(key)
        super().__setitem__(key, value)


def _chain(model):
    return [
        model.body,
        model.heads,
        model.charge_conservation,
        model.electrostatics,
        model.response,
        model.field_coupling,
        model.energy_sum,
    ]


CONFIGS = {
    "all_heads_bond": dict(quadrupoles=True, induced_charges=True, anisotropic_alpha=True),
    "uniform_conservation": dict(induced_charges=True, charge_conservation="uniform"),
    "fixed_charges": dict(fixed_charges={"H": 0.4, "O": -0.8}, dipoles=False),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_each_module_reads_and_writes_only_what_it_declares(name):
    torch.manual_seed(0)
    model = PolMLIP(ModelConfig(elements=["H", "O"], channels=4, cutoff=3.5, **CONFIGS[name]))
    model = model.double()
    # a model that shifts its charges globally takes fields in open frames only
    box = None if name == "uniform_conservation" else 7.0
    graph = atoms_to_graph(water_cluster(3, box=box), ["H", "O"], 3.5, (0.0, 0.02, 0.0), 1.0)
    data = applied_field_at_sites(strained_geometry(dict(graph), True, True), True)
    for module in _chain(model):
        recorder = RecordingDict(data)
        data = module(recorder)
        kind = type(module).__name__
        assert recorder.read <= set(module.inputs), (kind, recorder.read - set(module.inputs))
        assert recorder.written, kind
        assert recorder.written <= set(module.outputs), (
            kind,
            recorder.written - set(module.outputs),
        )
        data = dict(data)
    recorder = RecordingDict(data)
    data = model.derivatives(recorder, True, True, True, False, True)
    assert recorder.read <= set(model.derivatives.inputs)
    # full Born charges, or (training) their projections on given directions
    assert recorder.written == set(model.derivatives.outputs) - {keys.PROJECTED_BEC}
    alpha = {keys.POLARIZABILITY, keys.ATOMIC_POLARIZABILITY}
    directions = torch.tensor([[0.3, -1.2, 0.8]], dtype=torch.float64)
    again = applied_field_at_sites(strained_geometry(dict(graph), True, True), False)
    for module in _chain(model):
        again = dict(module(again))
    recorder = RecordingDict(dict(again, **{keys.BEC_PROJECTION: directions}))
    projected = model.derivatives(recorder, True, True, True, False)
    assert recorder.read <= set(model.derivatives.inputs)
    assert recorder.written == set(model.derivatives.outputs) - {keys.BEC} - alpha
    torch.testing.assert_close(
        projected[keys.PROJECTED_BEC],
        torch.einsum("b,nbg->ng", directions[0], data[keys.BEC]),
        rtol=0,
        atol=1e-12,
    )
    reference = model(graph, True, True, True, compute_polarizability=True)
    for key in (keys.ENERGY, keys.FORCES, keys.VIRIAL, keys.POLARIZATION, keys.BEC) + tuple(alpha):
        torch.testing.assert_close(data[key], reference[key], rtol=0, atol=1e-12)


#: state-dict names before the model was split into modules -> their names now
OLD_NAMES = {
    "element_charge": "heads.element_charge",
    "bond_weight.coefficients": "charge_conservation.bond_weight.coefficients",
    "fixed_charge_table": "charge_conservation.fixed_charge_table",
    "energy_shift": "energy_sum.energy_shift",
    "energy_scale": "energy_sum.energy_scale",
}


def test_checkpoints_with_the_old_names_load():
    torch.manual_seed(0)
    cfg = ModelConfig(elements=["H", "O"], channels=4, cutoff=3.5, induced_charges=True)
    source = PolMLIP(cfg).double()
    with torch.no_grad():
        source.heads.element_charge.copy_(torch.tensor([0.3, -0.6]))
        source.charge_conservation.bond_weight.coefficients.normal_()
        source.energy_sum.energy_shift.copy_(torch.tensor([-1.5, -4.0]))
        source.energy_sum.energy_scale.fill_(0.7)
    state = source.state_dict()
    old = {}
    renamed = {new: old_name for old_name, new in OLD_NAMES.items()}
    for key, value in state.items():
        old[renamed.get(key, key)] = value
    for name in ("field_limit", "min_distance"):  # not recorded by the oldest checkpoints
        old.pop(name)
    assert set(OLD_NAMES) <= set(old)
    torch.manual_seed(1)
    target = PolMLIP(cfg).double()
    target.load_state_dict(old)
    graph = atoms_to_graph(water_cluster(2, seed=3), ["H", "O"], 3.5)
    a, b = source(graph, True), target(graph, True)
    for key in (keys.ENERGY, keys.FORCES, keys.CHARGES):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_constants_are_exact_and_survive_float32_checkpoints():
    """Models are built in float64, so the Wigner 3j buffers and the l=2 change of basis
    are exact; a checkpoint holding them rounded to float32 (as all did before) loads with
    the exact values, so a float64 model stays equivariant to 1e-14, not 1e-8."""
    cfg = ModelConfig(elements=["H", "O"], channels=4, cutoff=3.5, quadrupoles=True)
    model = PolMLIP(cfg)
    constants = {n: b for n, b in model.named_buffers() if "_w3j_" in n or "l2_to_matrix" in n}
    assert any("_w3j_" in n for n in constants) and "heads.l2_to_matrix" in constants
    assert all(b.dtype == torch.float64 for b in constants.values())
    rounded = {k: v.float().double() for k, v in model.state_dict().items()}
    assert max(float((rounded[n] - b).abs().max()) for n, b in constants.items()) > 1e-9
    target = PolMLIP(cfg)
    target.load_state_dict(rounded)
    for name, value in target.named_buffers():
        if name in constants:
            torch.testing.assert_close(value, constants[name], rtol=0, atol=0)


@pytest.mark.parametrize(
    "settings",
    [
        dict(lmax=0, dipoles=False, induced_dipoles=False),
        dict(lmax=1),
        dict(lmax=2, correlation=1),
        dict(lmax=1, num_layers=1, correlation=2),
    ],
    ids=["lmax0", "lmax1", "correlation1", "one-layer-correlation2"],
)
def test_mace_backbone_edge_settings_export_and_run(settings, tmp_path):
    """The MACE backbone at the edges of its settings (scalar features only, lmax 1, the
    lowest body orders, one layer) builds, exports and gives finite forces that sum to zero
    on an open frame (no mesh: exact to rounding)."""
    import numpy as np

    from polmlip.ase import PolMLIPCalculator
    from polmlip.export.io import export_model

    torch.manual_seed(0)
    cfg = {"elements": ["H", "O"], "backbone": "mace", "channels": 3, **settings}
    export_model(PolMLIP(ModelConfig.from_dict(cfg)), tmp_path / "m.pt", network_dtype="float64")
    atoms = water_cluster(3, seed=4)
    atoms.calc = PolMLIPCalculator(str(tmp_path / "m.pt"))
    forces = atoms.get_forces()
    assert np.isfinite(forces).all()
    assert np.abs(forces.sum(axis=0)).max() <= 1e-9 * np.abs(forces).max()


def test_correlation_is_refused_without_the_mace_backbone():
    """Any correlation given with the default backbone is refused, MACE's default value too
    (it would be silently ignored); left out it is MACE's default, 3."""
    from polmlip.errors import InputError

    for value in (2, 3):
        with pytest.raises(InputError, match="setting of the MACE backbone only"):
            ModelConfig.from_dict({"elements": ["H"], "correlation": value})
    assert ModelConfig.from_dict({"elements": ["H"], "backbone": "mace"}).product_correlation == 3
