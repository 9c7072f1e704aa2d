"""Export round trip, the ASE calculator under a field, and refusal of bad model files."""

import numpy as np
import pytest
import torch

from polmlip import keys
from polmlip.ase import PolMLIPCalculator
from polmlip.data import atoms_to_graph
from polmlip.errors import InputError
from polmlip.export import export_model, load_exported

from model_helpers import water_cluster, with_format_version


@pytest.fixture(scope="module")
def exported(full_model, tmp_path_factory):
    # without radial tables: these tests hold the file to the eager model at 1e-12 (the
    # tables' own, smaller accuracy is tested in test_radial_table.py)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    meta = export_model(full_model, path, compress=False)
    return path, meta


def test_metadata_contract(exported):
    _, meta = exported
    assert meta["elements"] == ["H", "O"]
    # ghosts to one cutoff: the halo exchange gives them their owners' features (issue 15;
    # before it, num_layers × cutoff)
    assert meta["num_layers"] == 2 and meta["ghost_cutoff"] == pytest.approx(meta["cutoff"])
    assert meta["features"]["halo_exchange"] is True
    assert meta["field_limit"] == pytest.approx(1.0)
    assert meta["dtype"] == "float64" and meta["format_version"] == keys.FORMAT_VERSION
    assert meta["heads"]["quadrupoles"] and meta["long_range"]["sigma"] == 1.0


@pytest.mark.parametrize("periodic", [False, True])
def test_exported_equals_eager(full_model, exported, periodic):
    atoms = water_cluster(3, box=7.0 if periodic else None)
    field = (0.03, 0.0, -0.02)
    eager = full_model(
        atoms_to_graph(atoms, ["H", "O"], 3.5, external_field=field), compute_stress=periodic
    )
    calc = PolMLIPCalculator(str(exported[0]), external_field=field)
    atoms.calc = calc
    assert atoms.get_potential_energy() == pytest.approx(
        float(eager[keys.ENERGY].detach()), rel=1e-12, abs=1e-12
    )
    assert np.allclose(atoms.get_forces(), eager[keys.FORCES].detach().numpy(), atol=1e-12)
    if periodic:
        s = eager[keys.STRESS][0].detach().numpy()
        assert np.allclose(
            atoms.get_stress(), [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]], atol=1e-12
        )


def test_ase_field_forces_are_enthalpy_gradient(exported):
    """Open boundaries: forces under a field equal −∂U/∂r of the reported enthalpy."""
    atoms = water_cluster(3)
    atoms.calc = PolMLIPCalculator(str(exported[0]), external_field=(0.2, -0.1, 0.15))
    f = atoms.get_forces()
    p0 = atoms.get_positions()
    h = 1e-5
    for i, a in [(0, 2), (5, 0)]:
        e = []
        for s in (1, -1):
            p = p0.copy()
            p[i, a] += s * h
            atoms.set_positions(p)
            e.append(atoms.get_potential_energy())
        assert f[i, a] == pytest.approx(-(e[0] - e[1]) / (2 * h), rel=1e-6, abs=1e-8)
    atoms.set_positions(p0)
    # the field changes forces, and BECs satisfy the acoustic sum rule for a neutral cluster
    bec = atoms.calc.get_property("bec", atoms)
    assert np.abs(bec.sum(0)).max() < 1e-10
    calc0 = PolMLIPCalculator(str(exported[0]))
    assert not np.allclose(calc0.get_forces(atoms), f)


def test_unknown_element_is_refused(exported):
    from ase import Atoms

    atoms = Atoms("NaCl", positions=[[0, 0, 0], [2.5, 0, 0]])
    atoms.calc = PolMLIPCalculator(str(exported[0]))
    with pytest.raises(InputError, match=r"\['Cl', 'Na'\] are not known to this model"):
        atoms.get_potential_energy()


def test_overlapping_atoms_and_nan_are_refused(exported):
    atoms = water_cluster(2)
    atoms.calc = PolMLIPCalculator(str(exported[0]))
    p = atoms.get_positions()
    p[1] = p[0] + 0.01
    atoms.set_positions(p)
    with pytest.raises(InputError, match="overlap"):
        atoms.get_potential_energy()
    p[1, 0] = np.nan
    atoms.set_positions(p)
    with pytest.raises(InputError, match="NaN"):
        atoms.get_potential_energy()


def test_bad_model_files(tmp_path, exported):
    with pytest.raises(InputError, match="does not exist"):
        load_exported(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="not a polmlip model file"):
        load_exported(junk)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(exported[0].read_bytes()[:5000])
    with pytest.raises(InputError):
        load_exported(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(foreign))
    with pytest.raises(InputError, match="not a polmlip model"):
        load_exported(foreign)
    newer = with_format_version(exported[0], tmp_path / "newer.pt", 99)
    with pytest.raises(InputError, match="newer"):
        load_exported(newer)


@pytest.mark.parametrize("periodic", [False, True])
def test_cli_torchforce_export(exported, tmp_path, periodic):
    """`polmlip export MODEL --torchforce --structure FILE`: openmm-torch's signature, nm and
    kJ/mol, forces by backward equal to the ASE calculator's."""
    exported = exported[0]
    from polmlip.cli.main import main
    from polmlip.units import EV_TO_KJ_PER_MOL

    atoms = water_cluster(3, seed=4, box=8.0 if periodic else None)
    atoms.write(tmp_path / "s.xyz")
    out = tmp_path / "tf.pt"
    assert (
        main(
            [
                "export",
                str(exported),
                "--torchforce",
                "--structure",
                str(tmp_path / "s.xyz"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    module = torch.jit.load(str(out))
    pos = torch.tensor(atoms.positions / 10.0, requires_grad=True)
    box = [torch.tensor(atoms.cell.array / 10.0)] if periodic else []
    field = [torch.tensor(0.0), torch.tensor(0.02), torch.tensor(0.0)]
    energy = module(pos, *box, *field)
    energy.backward()
    atoms.calc = PolMLIPCalculator(str(exported), external_field=(0.0, 0.02, 0.0))
    e_ref = atoms.get_potential_energy() * EV_TO_KJ_PER_MOL
    f_ref = atoms.get_forces() * EV_TO_KJ_PER_MOL * 10.0
    assert float(energy.detach()) == pytest.approx(e_ref, rel=1e-10)
    np.testing.assert_allclose(-pos.grad.numpy(), f_ref, atol=1e-9 * np.abs(f_ref).max())
    assert main(["export", str(exported), "-o", str(tmp_path / "x.pt")]) == 2  # not a checkpoint


def test_exported_pme_model_gives_bec_and_forces_together(tmp_path):
    """Regression: TorchScript's optimizing executor broke the complex-FFT gradients of PME
    when BECs and forces were requested in one call; the calculator runs it unoptimized."""
    from ase.build import bulk

    from polmlip.model import ModelConfig, PolMLIP

    torch.manual_seed(0)
    cfg = ModelConfig(elements=["Na", "Cl"], channels=4, cutoff=3.5, lmax=1, dipoles=False)
    export_model(PolMLIP(cfg).double(), tmp_path / "pme.pt")
    atoms = bulk("NaCl", "rocksalt", a=5.62, cubic=True)
    atoms.rattle(0.02, seed=1)
    atoms.calc = PolMLIPCalculator(str(tmp_path / "pme.pt"))
    for _ in range(3):  # the optimizing executor specialises after a few calls
        atoms.calc.reset()
        z = atoms.calc.get_property("bec", atoms)
        f = atoms.get_forces()
    assert z.shape == (8, 3, 3) and np.isfinite(z).all() and np.isfinite(f).all()
    assert abs(z[0].trace() / 3) > 0.01


def test_ewald_split_in_ase(tmp_path, exported):
    """``ewald_split=True`` sums as LAMMPS does (the same physics to the accuracy); a model
    without a real-space cutoff cannot split, which is a clear error."""
    from polmlip.model import ModelConfig, PolMLIP

    path, meta = exported
    assert meta["long_range"]["real_space_cutoff"] == pytest.approx(9.0)
    atoms = water_cluster(4, seed=5, box=7.0)
    atoms.calc = PolMLIPCalculator(str(path))
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = PolMLIPCalculator(str(path), ewald_split=True)
    e_split, f_split = atoms.get_potential_energy(), atoms.get_forces()
    assert e_split == pytest.approx(e, rel=1e-5)
    assert np.abs(f_split - f).max() < 1e-4 * np.abs(f).max()
    assert np.abs(f_split - f).max() > 0.0  # really a different summation
    torch.manual_seed(0)
    cfg = ModelConfig(elements=["H", "O"], channels=4, lmax=1, real_space_cutoff=0.0)
    export_model(PolMLIP(cfg).double(), tmp_path / "nosplit.pt")
    with pytest.raises(InputError, match="ewald_split needs a model exported with"):
        PolMLIPCalculator(str(tmp_path / "nosplit.pt"), ewald_split=True)
