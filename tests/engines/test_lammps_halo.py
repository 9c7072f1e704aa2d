"""pair_style polmlip on several ranks with the halo exchange, against the ASE calculator.

Each rank evaluates the network on its own atoms, with ghosts to cutoff + skin whose features
come from their owners after every layer (docs/lammps.md). In float64, at 1, 2, 4 and 8 ranks
(8 oversubscribed on 2 cores: correctness only), energy, forces, virial, per-atom charges, Born
charges and the polarization equal ASE to 1e-10 relative, for water, a rock-salt crystal, a
triclinic cell with every head and a field, the MACE backbone with and without a field (and
with the body of a mace-torch model), a
decomposition where one rank owns no atom, and a box only slightly larger than twice the
cutoff. The log's ghost counts are LAMMPS' cutoff +
skin shell, far fewer than num_layers × cutoff would need.
"""

import re

import numpy as np
import pytest
import torch

from polmlip.ase import PolMLIPCalculator
from polmlip.export import export_model
from polmlip.model import ModelConfig, PolMLIP

from lammps_helpers import (
    LAMMPS_MARKS,
    pressure_from_stress,
    read_forces,
    read_thermo,
    run_lammps,
    write_inputs,
)
from model_helpers import mace_body_model, rocksalt, triclinic_water, water_cluster

pytestmark = LAMMPS_MARKS

RTOL = 1e-10
SKIN = 2.0  # LAMMPS' default neighbour skin in metal units
CUTOFF = 3.5


def _model(path, elements, **settings):
    """A small model; explicit-k Ewald at 1e-12 unless ``settings`` say otherwise (the PME
    cases run the mesh distributed over the ranks). With ``mace_body``, the body of the
    mace-torch model of tests/references/mace, with its settings."""
    torch.manual_seed(0)
    if settings.pop("mace_body", False):
        settings = dict(dict(kspace_method="ewald", kspace_accuracy=1e-12), **settings)
        export_model(mace_body_model(elements, **settings), path)
        return str(path)
    cfg = dict(
        elements=elements,
        channels=6,
        cutoff=CUTOFF,
        num_layers=2,
        kspace_method="ewald",
        kspace_accuracy=1e-12,
    )
    cfg.update(settings)
    export_model(PolMLIP(ModelConfig(**cfg)).double(), path)
    return str(path)


def _clustered():
    """Six water molecules in one corner of a 14 Å box: with `processors 4 1 1` the ranks of
    the far slabs own no atom (and some have no ghost either)."""
    atoms = water_cluster(6, seed=11, box=5.5)
    atoms.set_cell([14.0, 9.0, 9.0])
    return atoms


def _clustered_off_cutoff():
    """As :func:`_clustered`, in a 14 × 9.3 × 9.3 Å box: lattice vectors of exactly the
    real-space cutoff (9 Å) would put self-image pairs at exactly the cutoff, which the
    periodic search and the ghost images classify differently by rounding (a 1e-8 force
    difference at PME accuracy 1e-6; the truncation itself is hard, as in LAMMPS coul/long)."""
    atoms = _clustered()
    atoms.set_cell([14.0, 9.3, 9.3])
    return atoms


ALL_HEADS = dict(
    quadrupoles=True, induced_charges=True, induced_dipoles=True, anisotropic_alpha=True
)

CASES = {
    "water": (lambda: water_cluster(8, seed=2, box=9.0), ["H", "O"], {}, (0, 0, 0), ""),
    "rocksalt": (
        lambda: rocksalt().repeat((2, 1, 1)),
        ["Na", "Cl"],
        dict(induced_charges=True),
        (0, 0, 0),
        "",
    ),
    "triclinic_all_heads_field": (triclinic_water, ["H", "O"], ALL_HEADS, (0.02, -0.01, 0.03), ""),
    "rank_without_atoms": (
        _clustered,
        ["H", "O"],
        dict(induced_charges=True),
        (0.0, 0.03, 0.0),
        "processors * 1 1",
    ),
    "triclinic_all_heads_field_pme": (
        triclinic_water,
        ["H", "O"],
        dict(ALL_HEADS, kspace_method="pme", kspace_accuracy=1e-6),
        (0.02, -0.01, 0.03),
        "",
    ),
    "rank_without_atoms_pme": (
        _clustered_off_cutoff,
        ["H", "O"],
        dict(induced_charges=True, kspace_method="pme", kspace_accuracy=1e-6),
        (0.0, 0.03, 0.0),
        "processors * 1 1",
    ),
    "water_pme_2x2x2": (
        lambda: water_cluster(16, seed=3, box=11.0),
        ["H", "O"],
        dict(quadrupoles=True, induced_dipoles=True, kspace_method="pme", kspace_accuracy=1e-6),
        (0.01, 0.0, 0.0),
        "",
    ),
    # the MACE backbone: its element-dependent product basis and residual read the ghost
    # atoms' species and the halo-exchanged features of every layer
    "mace_triclinic_all_heads_field": (
        triclinic_water,
        ["H", "O"],
        dict(ALL_HEADS, backbone="mace"),
        (0.02, -0.01, 0.03),
        "",
    ),
    "mace_water_pme_no_field": (
        lambda: water_cluster(16, seed=3, box=11.0),
        ["H", "O"],
        dict(backbone="mace", induced_dipoles=True, kspace_method="pme", kspace_accuracy=1e-6),
        (0.0, 0.0, 0.0),
        "",
    ),
    # a mace-torch model's body (max_ell 3, mace-torch's plain first layer, 3-layer radial
    # MLPs) under every head, with a field
    "mace_torch_body_field": (
        lambda: water_cluster(16, seed=3, box=11.0),
        ["H", "O"],
        dict(ALL_HEADS, mace_body=True),
        (0.02, -0.01, 0.03),
        "",
    ),
    "box_just_over_twice_the_cutoff": (
        lambda: water_cluster(4, seed=6, box=2 * CUTOFF + 0.3),
        ["H", "O"],
        dict(induced_charges=True, induced_dipoles=True),
        (0.0, 0.0, 0.02),
        "",
    ),
}

#: cases run with ``ewald_split yes`` (and ASE ``ewald_split=True``): the real-space pairs
#: over ghosts to the real-space cutoff; the others sum everything in k-space (the default)
SPLIT_CASES = {
    "rocksalt",
    "triclinic_all_heads_field_pme",
    "rank_without_atoms_pme",
    "box_just_over_twice_the_cutoff",
}

RUN = (
    "fix q all pair 1 polmlip charges 0 bec 0\n"
    "dump q all custom 1 peratom.dump id f_q[1] f_q[2] f_q[3] f_q[4] f_q[5] f_q[6] f_q[7] "
    "f_q[8] f_q[9] f_q[10]\n"
    "dump_modify q sort id format float %.17g\n"
    "compute P all pair polmlip\n"
    "thermo_style custom step pe pxx pyy pzz pxy pxz pyz c_P[1] c_P[2] c_P[3]\n"
    "thermo_modify format float %.17g\n"
    "run 0"
)


def _peratom(workdir, n):
    lines = (workdir / "peratom.dump").read_text().splitlines()[9 : 9 + n]
    data = np.array([[float(v) for v in line.split()] for line in lines])
    return data[np.argsort(data[:, 0]), 1:]


def _close(got, ref, what, rtol=RTOL):
    scale = max(float(np.abs(ref).max()), 1e-12)
    err = float(np.abs(np.asarray(got) - np.asarray(ref)).max())
    assert err <= rtol * scale, f"{what}: max error {err:.3g} for scale {scale:.3g}"


@pytest.mark.parametrize("case", list(CASES))
def test_halo_ranks_match_ase(case, tmp_path):
    build, elements, heads, field, pre = CASES[case]
    atoms = build()
    atoms.wrap()
    model = _model(tmp_path / "model.pt", elements, **heads)
    split = case in SPLIT_CASES
    calc = PolMLIPCalculator(model, external_field=field, ewald_split=split)
    atoms.calc = calc
    e_ref = atoms.get_potential_energy()
    f_ref = atoms.get_forces()
    p_ref = pressure_from_stress(atoms.get_stress(), atoms.get_volume())
    bec_ref = calc.get_property("bec", atoms).reshape(len(atoms), 9)
    q_ref = calc.results["charges"]
    pol_ref = calc.results["polarization"]
    write_inputs(
        tmp_path,
        atoms,
        "model.pt",
        elements,
        field=field,
        run=RUN,
        pre=pre,
        pair_extra="bec yes ewald_split yes" if split else "bec yes",
    )
    for ranks in (1, 2, 4, 8):
        proc = run_lammps(tmp_path, ranks)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        thermo = read_thermo(tmp_path)[0]
        where = f"{case} at {ranks} ranks"
        assert thermo[1] == pytest.approx(e_ref, rel=RTOL), where
        _close(read_forces(tmp_path)[0], f_ref, "forces " + where)
        comps = slice(0, 3) if any(field) else slice(0, 6)
        _close(thermo[2:8][comps], p_ref[comps], "pressure " + where)
        _close(thermo[8:11], pol_ref, "polarization " + where)
        data = _peratom(tmp_path, len(atoms))
        _close(data[:, 0], q_ref, "charges " + where)
        _close(data[:, 1:10], bec_ref, "bec " + where)
        if case.startswith("rank_without_atoms") and ranks >= 4:
            counts = _ghost_counts(tmp_path)
            assert any(local == 0 for local, _ in counts), counts


def _ghost_counts(workdir):
    """(local, ghost) atoms of every rank from the pair style's log line."""
    log = (workdir / "log.lammps").read_text()
    line = re.search(r"local/ghost atoms per rank:(.*)", log).group(1)
    return [tuple(int(v) for v in item.split(":")[1].split("/")) for item in line.split()]


def _expected_ghosts(atoms, grid, cut):
    """LAMMPS' ghost atoms of each rank of an orthogonal box split ``grid``: images within
    ``cut`` of the rank's subdomain in every direction, minus its own atoms."""
    lengths = np.diag(atoms.cell.array)
    pos = atoms.get_positions(wrap=True)
    shifts = np.array([[a, b, c] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)])
    images = (pos[None, :, :] + shifts[:, None, :] * lengths).reshape(-1, 3)
    original = np.repeat(np.all(shifts == 0, axis=1), len(pos))
    out = []
    for rank in range(int(np.prod(grid))):
        index = np.unravel_index(rank, grid, order="F")
        lo = np.array(index) * lengths / grid
        hi = lo + lengths / grid
        inside = np.all((images >= lo - cut) & (images < hi + cut), axis=1)
        own = original & np.all((images >= lo) & (images < hi), axis=1)
        out.append((int(own.sum()), int(inside.sum() - own.sum())))
    return out


def test_ghost_atoms_reach_cutoff_plus_skin_only(tmp_path):
    """The log's ghost counts per rank are those within cutoff + skin of each subdomain, as
    computed here from the geometry; within num_layers × cutoff + skin (what every rank
    evaluated before the exchange) there would be far more. With the Ewald split
    (``ewald_split yes``) the shell reaches the real-space cutoff + skin instead."""
    atoms = water_cluster(40, seed=4, box=16.0)
    atoms.set_cell(np.diag([16.0, 16.0, 16.0]))
    atoms.wrap()
    model = _model(tmp_path / "model.pt", ["H", "O"])
    write_inputs(tmp_path, atoms, "model.pt", ["H", "O"], pre="processors 2 1 1")
    proc = run_lammps(tmp_path, 2)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "ghost cutoff 5.5 A (cutoff + skin)" in (tmp_path / "log.lammps").read_text()
    counts = _ghost_counts(tmp_path)
    assert counts == _expected_ghosts(atoms, (2, 1, 1), CUTOFF + SKIN)
    deep = _expected_ghosts(atoms, (2, 1, 1), 2 * CUTOFF + SKIN)
    assert all(g_deep > 1.3 * g for (_, g), (_, g_deep) in zip(counts, deep)), (counts, deep)
    write_inputs(
        tmp_path,
        atoms,
        "model.pt",
        ["H", "O"],
        pre="processors 2 1 1",
        pair_extra="ewald_split yes",
    )
    proc = run_lammps(tmp_path, 2)
    assert proc.returncode == 0, proc.stdout[-3000:]
    reach = ModelConfig(elements=["H", "O"]).real_space_cutoff + SKIN
    log = (tmp_path / "log.lammps").read_text()
    assert f"ghost cutoff {reach:g} A (real-space cutoff + skin)" in log
    assert _ghost_counts(tmp_path) == _expected_ghosts(atoms, (2, 1, 1), reach)
    del model


def test_atom_ids_with_gaps_on_two_ranks(tmp_path):
    """Ghosts get their owners' values by communication, not by atom ID, so IDs with gaps
    (after delete_atoms without compress) work on several ranks; before the exchange they
    were an error. Energy and forces equal ASE on the remaining atoms."""
    atoms = water_cluster(4, seed=1, box=9.0)
    atoms.wrap()
    model = _model(tmp_path / "model.pt", ["H", "O"], induced_charges=True)
    remaining = atoms[[i for i in range(len(atoms)) if i != 2]]
    remaining.calc = PolMLIPCalculator(model)
    e_ref, f_ref = remaining.get_potential_energy(), remaining.get_forces()
    write_inputs(
        tmp_path,
        atoms,
        "model.pt",
        ["H", "O"],
        extra="group gone id 3\ndelete_atoms group gone compress no",
    )
    proc = run_lammps(tmp_path, 2)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert read_thermo(tmp_path)[0][1] == pytest.approx(e_ref, rel=RTOL)
    _close(read_forces(tmp_path)[0], f_ref, "forces")


def test_ewald_split_needs_a_real_space_cutoff(tmp_path):
    """``ewald_split yes`` with a model exported without a real-space cutoff is a LAMMPS
    error that says what to do, not a silent fallback."""
    atoms = water_cluster(4, seed=6, box=8.0)
    atoms.wrap()
    _model(tmp_path / "model.pt", ["H", "O"], real_space_cutoff=0.0)
    write_inputs(tmp_path, atoms, "model.pt", ["H", "O"], pair_extra="ewald_split yes")
    proc = run_lammps(tmp_path, 1)
    assert proc.returncode != 0
    assert "ewald_split yes needs a model with a real-space cutoff" in proc.stdout + proc.stderr


def _halo_log(workdir):
    """(route line, bytes sent per force call by the busiest rank) from the pair style's log."""
    log = (workdir / "log.lammps").read_text()
    route = re.search(r"pair_style polmlip: halo exchange of .*", log).group(0)
    sent = float(re.search(r"halo exchange per rank \(largest\): (\S+) bytes", log).group(1))
    return route, sent


def test_mixed_precision_halo_keeps_float32(tmp_path):
    """A mixed-precision export (float32 network, float64 geometry and long range) exchanges
    its float32 feature rows as they are: two values per double of LAMMPS' buffers, so about
    half the bytes of the float64 export of the same weights, and the log says so. Results
    at 2 and 4 ranks equal ASE on the same file to float32 rounding (the order of the sums
    differs between rank counts), as at one rank."""
    atoms = water_cluster(16, seed=3, box=11.0)
    atoms.wrap()
    sent = {}
    for network_dtype in ("float32", "float64"):
        torch.manual_seed(0)
        net = PolMLIP(
            ModelConfig(
                elements=["H", "O"],
                channels=6,
                lmax=2,
                cutoff=CUTOFF,
                induced_dipoles=True,
                kspace_method="pme",
                kspace_accuracy=1e-6,
            )
        ).double()
        work = tmp_path / network_dtype
        work.mkdir()
        export_model(net, work / "model.pt", network_dtype=network_dtype)
        calc = PolMLIPCalculator(str(work / "model.pt"), external_field=(0.0, 0.0, 0.01))
        atoms.calc = calc
        e_ref, f_ref = atoms.get_potential_energy(), atoms.get_forces()
        write_inputs(work, atoms, "model.pt", ["H", "O"], field=(0.0, 0.0, 0.01))
        rtol = 2e-6 if network_dtype == "float32" else RTOL
        for ranks in (1, 2, 4):
            proc = run_lammps(work, ranks)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
            where = f"{network_dtype} network at {ranks} ranks"
            assert read_thermo(work)[0][1] == pytest.approx(e_ref, rel=rtol), where
            _close(read_forces(work)[0], f_ref, "forces " + where, rtol=10 * rtol)
            if ranks == 2:
                route, sent[network_dtype] = _halo_log(work)
                assert f"halo exchange of {network_dtype} rows" in route, route
                assert "in host memory" in route, route
    assert 0.45 * sent["float64"] <= sent["float32"] <= 0.55 * sent["float64"], sent


def test_two_instances_in_one_process(tmp_path):
    """Two polmlip pair styles in one LAMMPS (hybrid/overlay, two different models) each
    communicate through their own hooks: energy and forces equal the sum of two separate
    runs, at 1 and 2 ranks (the halo exchange, sums and mesh of one never go through the
    other's)."""
    atoms = water_cluster(16, seed=3, box=11.0)
    atoms.wrap()
    _model(tmp_path / "a.pt", ["H", "O"], kspace_method="pme", kspace_accuracy=1e-6)
    torch.manual_seed(1)
    export_model(
        PolMLIP(
            ModelConfig(elements=["H", "O"], channels=4, lmax=2, cutoff=3.0, induced_charges=True)
        ).double(),
        tmp_path / "b.pt",
    )
    for ranks in (1, 2):
        separate = []
        for name in ("a.pt", "b.pt"):
            write_inputs(tmp_path, atoms, name, ["H", "O"])
            proc = run_lammps(tmp_path, ranks)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
            separate.append((read_thermo(tmp_path)[0][1], read_forces(tmp_path)[0]))
        write_inputs(tmp_path, atoms, "a.pt polmlip b.pt", ["H", "O"], field=None)
        text = (tmp_path / "in.lmp").read_text()
        text = text.replace(
            "pair_style polmlip a.pt polmlip b.pt",
            "pair_style hybrid/overlay polmlip a.pt polmlip b.pt",
        )
        text = text.replace(
            "pair_coeff * * H O", "pair_coeff * * polmlip 1 H O\npair_coeff * * polmlip 2 H O"
        )
        (tmp_path / "in.lmp").write_text(text)
        proc = run_lammps(tmp_path, ranks)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        energy, forces = read_thermo(tmp_path)[0][1], read_forces(tmp_path)[0]
        where = f"{ranks} ranks"
        assert energy == pytest.approx(separate[0][0] + separate[1][0], rel=1e-10), where
        _close(forces, separate[0][1] + separate[1][1], "forces " + where)
