"""The electronic response of water models against GFN2-xTB: field-induced dipoles and forces,
the polarizability, and Raman spectra (docs/validation.md, "Electronic response").

Data, made with the documented commands' functions (``polmlip datagen``; cached in
runs/field_response/, ``--fresh`` redoes it):

* training: water clusters of 1–4 molecules with energies, forces, dipoles, Born charges and
  polarizabilities, half of them under a field of 0.005–0.01 au (``datagen water-clusters
  --bec --polarizability --field 0.005 0.01 --field-fraction 0.5``), and the same geometries
  labelled again at zero field (for the variant without field frames);
* test: other clusters of 2–5 molecules, labelled at zero field (with α) and under 0.26 and
  0.51 V/Å (0.005 and 0.01 au) along one random direction per cluster.

Variants, one change at a time from the demo's recipe (its architecture: 8 channels, lmax 1,
2 layers, cutoff 4 Å, charges, dipoles, induced charges and dipoles; same epochs and seed):

* ``demo``: energies, forces, dipoles and Born charges, half the frames under a field;
* ``+alpha``: the same and the polarizability labels;
* ``zero-field``: the demo's labels on the same geometries, all at zero field;
* ``zero-field+alpha``: that and the polarizability labels;
* ``+alpha, 3×3 α``: ``+alpha`` with a 3×3 polarizability head per atom (``anisotropic_alpha``,
  which needs lmax 2) instead of a scalar one;
* ``+alpha, heads ×10``: ``+alpha`` with the induced-charge and induced-dipole heads'
  normalisation (their typical magnitudes κ = 0.01 e/V, α = 0.02 e·Å²/V at a softplus of one)
  ten times larger.

Measured on the test clusters, at fixed nuclei: the share of the field-induced change of the
dipole and of the forces that the model captures (projection Σ Δx·Δx_ref / Σ |Δx_ref|², and
the cosine), the polarizability's r and MAE against GFN2-xTB (and its per-molecule MAE by
cluster size: the non-self-consistent response has no mutual polarization between molecules,
which would show as an error growing with size), and the Raman spectra from the model's α
and from GFN2-xTB's α on the same frames of a GFN2-xTB MD run of a 4-water cluster.

    python benchmarks/field_response.py [--quick] [--no-write] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import shutil
import sys
import time

import numpy as np
import torch
from ase import units as ase_units

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from report import replace_section  # noqa: E402

from polmlip.ase import PolMLIPCalculator  # noqa: E402
from polmlip.data.dataset import read_frames  # noqa: E402
from polmlip.export.io import export_model  # noqa: E402
from polmlip.qmdata.datagen import generate, water_cluster, write_extxyz_atomic  # noqa: E402
from polmlip.qmdata.xtb import XtbLabeller  # noqa: E402
from polmlip.train.config import parse_config  # noqa: E402
from polmlip.train.trainer import Trainer  # noqa: E402
from polmlip.units import ATOMIC_FIELD_TO_V_PER_ANGSTROM, COULOMB  # noqa: E402
from polmlip.workflows import raman  # noqa: E402
from polmlip.workflows.demo import DEMO_MODEL, DEMO_TRAINING  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "validation.md"
CACHE = ROOT / "runs" / "field_response"
FIELDS_AU = (0.005, 0.01)
VARIANTS = {
    "demo": dict(field=True, alpha=False),
    "+alpha": dict(field=True, alpha=True),
    "zero-field": dict(field=False, alpha=False),
    "zero-field+alpha": dict(field=False, alpha=True),
    "+alpha, 3×3 α": dict(field=True, alpha=True, model={"lmax": 2, "anisotropic_alpha": True}),
    "+alpha, heads ×10": dict(field=True, alpha=True, head_scale=10.0),
}
#: the models whose Raman spectra are compared with GFN2-xTB's
RAMAN_MODELS = ("+alpha", "+alpha, 3×3 α")


def make_data(n_train: int, n_test: int, fresh: bool) -> dict:
    """Training frames (with and without fields) and labelled test clusters, cached."""
    if fresh and CACHE.exists():
        shutil.rmtree(CACHE)
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = {k: CACHE / f"{k}.xyz" for k in ("train_field", "train_zero", "test")}
    if all(p.is_file() for p in paths.values()):
        return {k: read_frames(p) for k, p in paths.items()}
    train = generate(
        "water-clusters",
        n_train,
        molecules=(1, 4),
        field_au=FIELDS_AU,
        field_fraction=0.5,
        bec=True,
        polarizability=True,
        seed=0,
    )
    zero = relabel_at_zero_field(train)
    test = label_test_clusters(n_test)
    write_extxyz_atomic(train, paths["train_field"])
    write_extxyz_atomic(zero, paths["train_zero"])
    write_extxyz_atomic(test, paths["test"])
    return {"train_field": train, "train_zero": zero, "test": test}


def relabel_at_zero_field(frames: list) -> list:
    """The same geometries with the labels of ``polmlip datagen`` at zero field."""
    labeller = XtbLabeller()
    out = []
    for atoms in frames:
        a = atoms.copy()
        a.calc = None
        res = labeller.label(a, bec=True, polarizability=True)
        a.info.update(
            energy=res.energy,
            dipole=res.dipole,
            polarizability=res.polarizability,
            external_field=np.zeros(3),
        )
        a.arrays["forces"] = res.forces
        a.arrays["bec"] = res.bec.reshape(len(a), 9)
        out.append(a)
    return out


def label_test_clusters(n: int) -> list:
    """Clusters of 2–5 waters: α at zero field; dipole and forces at 0 and ±fields."""
    rng = np.random.default_rng(123)
    labeller = XtbLabeller()
    out = []
    for _ in range(n):
        atoms = water_cluster(int(rng.integers(2, 6)), rng)
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        res = labeller.label(atoms, polarizability=True)
        # xtb_ names: ASE's extxyz reader would move energy, dipole and forces to a calculator
        atoms.info.update(xtb_dipole=res.dipole, xtb_polarizability=res.polarizability)
        atoms.info["direction"] = direction
        atoms.arrays["xtb_forces"] = res.forces
        for k, f_au in enumerate(FIELDS_AU):
            field = direction * f_au * ATOMIC_FIELD_TO_V_PER_ANGSTROM
            r = labeller.label(atoms, field=field)
            atoms.info[f"xtb_dipole_{k}"] = r.dipole
            atoms.arrays[f"xtb_forces_{k}"] = r.forces
        out.append(atoms)
    return out


def train_variant(name: str, data: dict, epochs: int, folder: pathlib.Path) -> tuple:
    """Train one variant (cached by its folder); returns (exported model path, minutes)."""
    spec = VARIANTS[name]
    model_path = folder / "model.pt"
    timing = folder / "minutes.json"
    if model_path.is_file() and timing.is_file():
        return model_path, json.loads(timing.read_text())["minutes"]
    train_file = CACHE / ("train_field.xyz" if spec["field"] else "train_zero.xyz")
    training = dict(
        DEMO_TRAINING,
        output=str(folder),
        epochs=epochs,
        bec_loss="projected",
        polarizability_weight=2000.0 if spec["alpha"] else 0.0,
    )
    run = parse_config(
        {
            "model": dict(DEMO_MODEL, elements=["H", "O"], **spec.get("model", {})),
            "data": {"train": str(train_file), "val_fraction": 0.1},
            "training": training,
        }
    )
    t0 = time.perf_counter()
    trainer = Trainer(run, progress=False)
    if "head_scale" in spec:  # the response heads' typical magnitudes (κ, α) times a factor
        trainer.model.heads.kappa_scale *= spec["head_scale"]
        trainer.model.heads.alpha_scale *= spec["head_scale"]
    trainer.train()
    minutes = (time.perf_counter() - t0) / 60
    export_model(trainer.best_model().eval(), model_path)
    timing.write_text(json.dumps({"minutes": minutes}))
    return model_path, minutes


def _projection(pred: np.ndarray, ref: np.ndarray) -> tuple:
    """(Σ pred·ref / Σ ref·ref, cosine) over all components."""
    p, r = pred.reshape(-1), ref.reshape(-1)
    return float(p @ r / (r @ r)), float(p @ r / (np.linalg.norm(p) * np.linalg.norm(r)))


def evaluate(model_path: pathlib.Path, test: list) -> dict:
    """Field-induced dipole and force changes, and α, of one model on the test clusters."""
    calc = PolMLIPCalculator(str(model_path))
    out = {}
    for k, f_au in enumerate(FIELDS_AU):
        d_pred, d_ref, f_pred, f_ref = [], [], [], []
        for atoms in test:
            a = atoms.copy()
            a.calc = calc
            calc.set(external_field=(0.0, 0.0, 0.0))
            p0, f0 = calc.get_property("polarization", a), a.get_forces()
            calc.set(external_field=atoms.info["direction"] * f_au * ATOMIC_FIELD_TO_V_PER_ANGSTROM)
            p1, f1 = calc.get_property("polarization", a), a.get_forces()
            d_pred.append(p1 - p0)
            d_ref.append(atoms.info[f"xtb_dipole_{k}"] - atoms.info["xtb_dipole"])
            f_pred.append(f1 - f0)
            f_ref.append(atoms.arrays[f"xtb_forces_{k}"] - atoms.arrays["xtb_forces"])
        out[f"dipole_{k}"] = _projection(np.array(d_pred), np.array(d_ref))
        out[f"forces_{k}"] = _projection(np.concatenate(f_pred), np.concatenate(f_ref))
    calc.set(external_field=(0.0, 0.0, 0.0))
    pred, ref, per_molecule = [], [], {}
    for atoms in test:
        a = atoms.copy()
        a.calc = calc
        alpha = calc.get_property("polarizability", a)
        pred.append(alpha)
        ref.append(np.asarray(atoms.info["xtb_polarizability"]).reshape(3, 3))
        n = len(atoms) // 3
        err = np.abs(alpha - ref[-1]).mean() / n
        per_molecule.setdefault(n, []).append(err)
    pred, ref = np.array(pred).reshape(-1), np.array(ref).reshape(-1)
    out["alpha_r"] = float(np.corrcoef(pred, ref)[0, 1])
    out["alpha_mae"] = float(np.abs(pred - ref).mean())
    out["alpha_ratio"] = _projection(pred, ref)[0]
    out["alpha_by_size"] = {n: float(np.mean(v)) for n, v in sorted(per_molecule.items())}
    # the anisotropy: the traceless part α − (tr α / 3) I, which the Raman VH spectrum sees
    p3, r3 = pred.reshape(-1, 3, 3), ref.reshape(-1, 3, 3)
    p_t, r_t = _traceless(p3).reshape(-1), _traceless(r3).reshape(-1)
    out["alpha_aniso_r"] = float(np.corrcoef(p_t, r_t)[0, 1])
    out["alpha_aniso_ratio"] = _projection(p_t, r_t)[0]
    return out


def _traceless(alpha: np.ndarray) -> np.ndarray:
    """(n, 3, 3) → α − (tr α / 3) I."""
    return alpha - np.trace(alpha, axis1=1, axis2=2)[:, None, None] / 3.0 * np.eye(3)


def xtb_trajectory(steps: int, every: int) -> list:
    """GFN2-xTB NVE MD of a 4-water cluster (0.5 fs steps, 300 K start), a frame every
    ``every`` steps: a trajectory that does not depend on any model (cached)."""
    import ase.io
    from ase.calculators.calculator import Calculator, all_changes
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet

    path = CACHE / "xtb_md.xyz"
    if path.is_file():
        return read_frames(path)

    class Xtb(Calculator):
        implemented_properties = ["energy", "forces"]

        def __init__(self):
            super().__init__()
            self.labeller = XtbLabeller()

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            res = self.labeller.label(self.atoms)
            self.results = {"energy": res.energy, "forces": res.forces}

    atoms = water_cluster(4, np.random.default_rng(7), distort=0.3)
    atoms.calc = Xtb()
    MaxwellBoltzmannDistribution(atoms, temperature_K=300.0, rng=np.random.default_rng(1))  # noqa
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, timestep=0.5 * ase_units.fs)
    frames = []
    for step in range(steps + 1):
        if step % every == 0:
            frame = atoms.copy()
            frame.calc = None
            frames.append(frame)
        if step < steps:
            dyn.run(1)
    ase.io.write(path, frames, format="extxyz")
    return frames


def raman_comparison(model_path: pathlib.Path, frames: list, dt: float, name: str) -> dict:
    """Raman spectra from the model's α and GFN2-xTB's α on the same frames."""
    calc = PolMLIPCalculator(str(model_path))
    model_alpha = raman.trajectory_polarizability(frames, calc, progress=False)
    cached = CACHE / "xtb_md_alpha.npy"
    if cached.is_file():
        xtb_alpha = np.load(cached)
    else:
        labeller = XtbLabeller()
        xtb_alpha = np.stack([labeller.field_derivatives(f)[1] for f in frames])
        np.save(cached, xtb_alpha)
    wn, model = raman.raman_spectra(model_alpha, dt)
    _, ref = raman.raman_spectra(xtb_alpha, dt)
    out = {"frames": len(frames), "dt_fs": dt}
    for spectrum in ("isotropic", "anisotropic", "polarized"):
        out[spectrum] = {
            "bands_model": raman.band_positions(wn, model[spectrum]),
            "bands_xtb": raman.band_positions(wn, ref[spectrum]),
            "overlap": raman.spectral_overlap(model[spectrum], ref[spectrum]),
        }
    tag = name.replace(" ", "").replace(",", "_").replace("×", "x").replace("+", "")
    raman.write_raman(CACHE / f"raman_model_{tag}", wn, model, {"source": f"model {name}"})
    raman.write_raman(CACHE / "raman_xtb", wn, ref, {"source": "GFN2-xTB"})
    return out


def bulk_epsilon_infinity(model_path: pathlib.Path) -> float:
    """ε∞ = 1 + 4π k_e tr α / (3V) of a periodic 1 g/cm³ water box (64 molecules on a grid,
    random orientations) from the model's polarizability."""
    from polmlip.qmdata.structures import water_box

    box = water_box(64, seed=5)
    box.calc = PolMLIPCalculator(str(model_path))
    alpha = box.calc.get_property("polarizability", box)
    return float(1.0 + 4 * np.pi * COULOMB * np.trace(alpha) / (3 * box.get_volume()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny data and training")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    parser.add_argument("--fresh", action="store_true", help="redo the cached data and models")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    n_train, n_test, epochs, md_steps = (16, 4, 3, 200) if args.quick else (120, 30, 30, 4000)
    global CACHE
    if args.quick:
        CACHE = CACHE.with_name(CACHE.name + "_quick")
    data = make_data(n_train, n_test, args.fresh)
    results, minutes = {}, {}
    for name in VARIANTS:
        path, minutes[name] = train_variant(name, data, epochs, CACHE / name)
        results[name] = evaluate(path, data["test"])
        print(name, json.dumps(results[name]), flush=True)
    every = 4
    trajectory = xtb_trajectory(md_steps, every)
    ramans = {
        name: raman_comparison(CACHE / name / "model.pt", trajectory, 0.5 * every, name)
        for name in RAMAN_MODELS
    }
    print("raman", json.dumps(ramans), flush=True)
    eps = {name: bulk_epsilon_infinity(CACHE / name / "model.pt") for name in VARIANTS}
    print("epsilon_infinity", eps, flush=True)
    text = report(results, minutes, ramans, eps, n_train, n_test, epochs, time.perf_counter() - t0)
    print(text)
    if not args.no_write and not args.quick:
        title, _, body = text.partition("\n")
        replace_section(DOC, title.removeprefix("## "), body.strip())
        print(f"wrote {DOC}")


def report(results, minutes, ramans, eps, n_train, n_test, epochs, seconds) -> str:
    """The docs/validation.md section."""
    first = next(iter(ramans.values()))
    lines = [
        "## Electronic response: field-induced dipoles, α and Raman",
        "",
        f"Written by `python benchmarks/field_response.py` ({time.strftime('%Y-%m-%d')}, "
        f"{platform.machine()}, torch {torch.__version__}, {seconds / 60:.0f} min). Data: "
        f"GFN2-xTB (tblite) water clusters from `polmlip datagen water-clusters --bec "
        f"--polarizability`: {n_train} training clusters of 1–4 molecules, half under a field of "
        "0.005–0.01 au (and the same geometries again at zero field), and "
        f"{n_test} test clusters of 2–5 molecules labelled at zero field and under 0.26 and "
        "0.51 V/Å (0.005, 0.01 au) in one random direction each. Models: the demo's recipe "
        f"(8 channels, lmax 1, 2 layers, cutoff 4 Å, charges, dipoles, induced charges and "
        f"dipoles), {epochs} epochs, seed 0, Born charges in the projected loss; one change at "
        "a time. Captured = Σ Δx·Δx_ref / Σ |Δx_ref|² of the field-induced change Δx = x(E) − "
        "x(0) at fixed nuclei (1 = all of it), with the cosine.",
        "",
        "| model | labels | dipole captured, 0.26 V/Å (cos) | 0.51 V/Å (cos) | forces "
        "captured, 0.26 V/Å (cos) | 0.51 V/Å (cos) | α r | α MAE [e·Å²/V] | α model/xTB | "
        "traceless α r | traceless α model/xTB | train [min] |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "demo": "E, F, μ, Z*; half under a field",
        "+alpha": "E, F, μ, Z*, α; half under a field",
        "zero-field": "E, F, μ, Z*; zero field",
        "zero-field+alpha": "E, F, μ, Z*, α; zero field",
        "+alpha, 3×3 α": "E, F, μ, Z*, α; half under a field; lmax 2, 3×3 α head",
        "+alpha, heads ×10": "as +alpha; the κ and α heads' scales ×10 (0.1 e/V, 0.2 e·Å²/V)",
    }
    for name, r in results.items():
        cells = []
        for what in ("dipole", "forces"):
            for k in range(2):
                share, cos = r[f"{what}_{k}"]
                cells.append(f"{100 * share:.0f} % ({cos:.2f})")
        lines.append(
            f"| {name} | {labels[name]} | " + " | ".join(cells) + f" | {r['alpha_r']:.3f} | "
            f"{r['alpha_mae']:.4f} | {r['alpha_ratio']:.2f} | {r['alpha_aniso_r']:.3f} | "
            f"{r['alpha_aniso_ratio']:.2f} | {minutes[name]:.1f} |"
        )
    lines += [
        "",
        "α error per molecule by cluster size (mean |Δα| over the 9 components / molecules, "
        "e·Å²/V): "
        + "; ".join(
            f"{name}: " + ", ".join(f"{n} mol {v:.4f}" for n, v in r["alpha_by_size"].items())
            for name, r in results.items()
        )
        + ".",
        "",
        "Raman spectra of one GFN2-xTB NVE run of a 4-water cluster (300 K start, 0.5 fs steps, "
        f"{first['frames']} frames {first['dt_fs']:g} fs apart), from a model's α and from "
        "GFN2-xTB's α on the same frames (`polmlip.workflows.raman`, reduced spectra; the "
        "trajectory is the reference method's, so only α differs):",
        "",
        "| model | spectrum | bend model / xTB [cm⁻¹] | stretch model / xTB [cm⁻¹] | overlap |",
        "|---|---|---:|---:|---:|",
    ]
    for model_name, raman_result in ramans.items():
        for name in ("isotropic", "anisotropic", "polarized"):
            s = raman_result[name]
            bm, bx = s["bands_model"], s["bands_xtb"]
            lines.append(
                f"| {model_name} | {name} | {bm['bend']:.0f} / {bx['bend']:.0f} | "
                f"{bm['stretch']:.0f} / {bx['stretch']:.0f} | {s['overlap']:.3f} |"
            )
    lines += [
        "",
        "ε∞ of a periodic 64-molecule water box at 1 g/cm³ from the model's polarizability "
        "(1 + 4π k_e tr α / 3V; experiment 1.77): "
        + ", ".join(f"{name} {v:.3f}" for name, v in eps.items())
        + ". GFN2-xTB's minimal basis gives a water molecule about a quarter of the "
        "experimental polarizability (tests/unit/test_datagen.py), so models taught by it "
        "inherit that; ε∞ needs α labels from a method with a polarizable basis.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
