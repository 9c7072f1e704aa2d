"""libtorch threads of PolMLIPForce: the setting, its serialization, results, bad values.

No timing here: benchmarks/openmm_threads.py measures what the setting does to speed.
"""

import re

import numpy as np
import pytest
import torch
from openmm_helpers import OPENMM_MARKS  # noqa: E402

from polmlip.errors import InputError
from polmlip.export import export_model
from polmlip.model import ModelConfig, PolMLIP
from polmlip.qmdata.structures import water_box
from polmlip.workflows.openmm_md import system_from_atoms

openmm = pytest.importorskip("openmm", reason="OpenMM is not installed (pip install openmm)")


pytestmark = OPENMM_MARKS


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    cfg = ModelConfig(elements=["H", "O"], channels=6, lmax=1, cutoff=3.5, kspace_accuracy=1e-6)
    path = tmp_path_factory.mktemp("omm_threads") / "model.pt"
    export_model(PolMLIP(cfg).double(), path)
    return path


@pytest.fixture(scope="module")
def atoms():
    return water_box(8, seed=3)


def _force(model_file, atoms, **kwargs):
    from polmlip.openmm import PolMLIPForce
    from polmlip.workflows.openmm_md import topology_from_atoms

    return PolMLIPForce(model_file, topology_from_atoms(atoms), **kwargs)


def _threads_in_xml(xml):
    found = re.findall(r'torchThreads="(-?\d+)"', xml)
    assert len(found) == 1, xml[:500]
    return int(found[0])


def _evaluate(model_file, atoms, platform, **kwargs):
    system, _ = system_from_atoms(atoms, str(model_file))
    system.removeForce(0)
    system.addForce(_force(model_file, atoms, **kwargs))
    ctx = openmm.Context(
        system, openmm.VerletIntegrator(0.0005), openmm.Platform.getPlatformByName(platform)
    )
    ctx.setPositions(atoms.positions / 10.0)
    state = ctx.getState(getEnergy=True, getForces=True)
    return state.getPotentialEnergy()._value, state.getForces(asNumpy=True)._value


@pytest.mark.parametrize("threads, stored", [(None, 0), (0, 0), (1, 1), (3, 3)])
def test_setting_round_trips_through_xml(model_file, atoms, threads, stored):
    force = _force(model_file, atoms, torch_threads=threads)
    xml = openmm.XmlSerializer.serialize(force)
    assert _threads_in_xml(xml) == stored
    copy = openmm.XmlSerializer.deserialize(xml)
    assert openmm.XmlSerializer.serialize(copy) == xml
    # inside a System too
    system, _ = system_from_atoms(atoms, str(model_file))
    system.removeForce(0)
    system.addForce(force)
    again = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    assert _threads_in_xml(openmm.XmlSerializer.serialize(again.getForce(0))) == stored


def test_old_xml_without_the_property_reads_as_automatic(model_file, atoms):
    xml = openmm.XmlSerializer.serialize(_force(model_file, atoms, torch_threads=2))
    old = re.sub(r'\s*torchThreads="2"', "", xml)
    assert "torchThreads" not in old
    copy = openmm.XmlSerializer.deserialize(old)
    assert _threads_in_xml(openmm.XmlSerializer.serialize(copy)) == 0


def test_openmmml_create_system_argument(model_file, atoms):
    openmmml = pytest.importorskip("openmmml")
    from polmlip.workflows.openmm_md import topology_from_atoms

    potential = openmmml.MLPotential("polmlip", modelPath=str(model_file))
    system = potential.createSystem(topology_from_atoms(atoms), torchThreads=2)
    forces = [f for f in system.getForces() if f.getName() == "PolMLIPForce"]
    assert _threads_in_xml(openmm.XmlSerializer.serialize(forces[0])) == 2


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
def test_results_identical_for_1_and_2_threads(model_file, atoms, platform):
    before = torch.get_num_threads()
    e1, f1 = _evaluate(model_file, atoms, platform, torch_threads=1)
    assert torch.get_num_threads() == before  # the plugin restores torch's own setting
    e2, f2 = _evaluate(model_file, atoms, platform, torch_threads=2)
    assert torch.get_num_threads() == before
    ea, fa = _evaluate(model_file, atoms, platform)  # automatic
    scale = np.abs(f1).max()
    for e, f in ((e2, f2), (ea, fa)):
        assert abs(e - e1) <= 1e-12 * abs(e1), (e, e1)
        assert np.abs(f - f1).max() <= 1e-12 * scale


def test_environment_variable(model_file, atoms, monkeypatch):
    e0, f0 = _evaluate(model_file, atoms, "Reference", torch_threads=1)
    monkeypatch.setenv("POLMLIP_TORCH_THREADS", "2")
    e, f = _evaluate(model_file, atoms, "Reference")
    assert abs(e - e0) <= 1e-12 * abs(e0)
    assert np.abs(f - f0).max() <= 1e-12 * np.abs(f0).max()
    for bad in ("-1", "two", "1.5"):
        monkeypatch.setenv("POLMLIP_TORCH_THREADS", bad)
        with pytest.raises(openmm.OpenMMException, match="POLMLIP_TORCH_THREADS must be 0"):
            _evaluate(model_file, atoms, "Reference")
        # an explicit setting does not read the variable
        _evaluate(model_file, atoms, "Reference", torch_threads=1)


@pytest.mark.parametrize("bad", [-1, -8, 1.5, "2", True])
def test_bad_value_is_refused_in_python(model_file, atoms, bad):
    with pytest.raises(InputError, match="torch_threads must be None or 0") as info:
        _force(model_file, atoms, torch_threads=bad)
    assert isinstance(info.value, ValueError)


def test_bad_value_is_refused_by_the_plugin(model_file, atoms):
    xml = openmm.XmlSerializer.serialize(_force(model_file, atoms, torch_threads=1))
    bad = xml.replace('torchThreads="1"', 'torchThreads="-2"')
    with pytest.raises(openmm.OpenMMException, match="torchThreads must be 0 .*not -2"):
        openmm.XmlSerializer.deserialize(bad)
