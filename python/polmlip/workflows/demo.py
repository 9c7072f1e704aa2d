"""The main demo: make reference data, train, evaluate, export, run field-driven MD.

Reference data comes from a known fixed-charge teacher (point charges + Born–Mayer
repulsion, :mod:`polmlip.data.teacher`), so the demo can also show that the learned
charges recover the true ones. Outputs go to ``demo_output/``.
"""

from __future__ import annotations

import json
import pathlib
import time

import ase.io
import numpy as np

STEPS = [
    "reference data",
    "training",
    "export",
    "evaluation",
    "ASE MD under a field",
    "LAMMPS MD under a field",
    "OpenMM MD under a field",
    "summary",
]


def _say(k: int, text: str) -> None:
    print(f"\n[{k}/{len(STEPS)}] {text}", flush=True)


def run(
    out: str = "demo_output",
    frames: int = 80,
    epochs: int = 40,
    md_steps: int = 200,
    quick: bool = False,
) -> dict:
    """Run every demo step; ``quick`` shrinks everything for tests."""
    from ..ase import PolMLIPCalculator
    from ..data.dataset import DataKeys, build_dataset
    from ..data.teacher import DEFAULT_CHARGES, random_clusters
    from ..export.adapter import ExportedAsModel
    from ..export.io import export_model, load_exported
    from ..train import plots
    from ..train.config import parse_config
    from ..train.evaluate import collect, format_table, metrics_table, parity_plots
    from ..train.trainer import Trainer
    from .md import run_md

    if quick:
        frames, epochs, md_steps = 24, 3, 10
    t0 = time.perf_counter()
    outdir = pathlib.Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    elements = list(DEFAULT_CHARGES)

    _say(
        1,
        f"reference data: {frames} + 10 clusters from a fixed-charge teacher "
        f"(charges {DEFAULT_CHARGES})",
    )
    ase.io.write(outdir / "train.xyz", random_clusters(frames, seed=0), format="extxyz")
    test = random_clusters(10, seed=99)
    ase.io.write(outdir / "test.xyz", test, format="extxyz")

    _say(2, f"training a charge model for {epochs} epochs (energies and forces only)")
    run_cfg = parse_config(
        {
            "model": {
                "elements": elements,
                "ladder": "q",
                "channels": 8,
                "lmax": 1,
                "cutoff": 3.5,
                "num_layers": 2,
                "induced_dipoles": True,
            },
            "data": {"train": str(outdir / "train.xyz"), "val_fraction": 0.15},
            "training": {
                "output": str(outdir / "run"),
                "epochs": epochs,
                "batch_size": 4,
                "lr": 0.01,
                "ema_decay": 0.9,
                "seed": 0,
            },
        }
    )
    trainer = Trainer(run_cfg)
    trainer.train()
    trainer.write_history()
    model = trainer.best_model().eval()
    plots.learning_curve(trainer.history, outdir / "learning_curve.png")

    _say(3, "export to one TorchScript file")
    export_model(model, outdir / "model.pt")
    module, meta = load_exported(outdir / "model.pt")
    _say(4, "evaluation of the exported file on 10 held-out clusters")
    graphs = build_dataset(test, elements, meta["cutoff"], DataKeys(), ("energy",))
    pairs = collect(ExportedAsModel(module), graphs)
    rows = metrics_table(pairs)
    print(format_table(rows))
    parity_plots(pairs, outdir)

    calc = PolMLIPCalculator(str(outdir / "model.pt"))
    learned, true = [], []
    for atoms in test:
        learned.extend(calc.get_charges(atoms))
        true.extend(DEFAULT_CHARGES[s] for s in atoms.get_chemical_symbols())
    corr = float(np.corrcoef(learned, true)[0, 1])
    print(f"learned vs teacher charges: correlation {corr:.5f}")

    _say(
        5, f"NVE MD, {md_steps} steps of 0.5 fs, with an AC field 0.2 sin(2π t / 50 fs) V/Å along x"
    )
    atoms = test[0].copy()
    log = run_md(
        atoms,
        calc,
        md_steps,
        timestep_fs=0.5,
        field=lambda t: np.array([0.2 * np.sin(2 * np.pi * t / 50.0), 0.0, 0.0]),
    )
    _plot_md(log, outdir / "md_field.png")
    drift = float(log["energy"][-1] - log["energy"][0])

    _say(6, "LAMMPS NVE, 2 MPI ranks, pair_style polmlip with an AC field (equal-style variable)")
    lammps = _lammps_step(test[0], outdir, elements, 40 if quick else 400)

    _say(7, "OpenMM NVE, PolMLIPForce with the AC field driven by a CustomIntegrator")
    openmm_log = _openmm_step(test[0], outdir, 40 if quick else 400)

    _say(8, "summary")
    summary = {
        "frames": frames,
        "epochs": epochs,
        "training_minutes": round((time.perf_counter() - t0) / 60, 2),
        "test_metrics": rows,
        "charge_correlation": corr,
        "md_steps": md_steps,
        "lammps": lammps,
        "openmm": openmm_log,
        "md_energy_change_eV": drift,
        "files": {
            "model": str(outdir / "model.pt"),
            "learning_curve": str(outdir / "learning_curve.png"),
            "parity": [str(p) for p in outdir.glob("parity_*.png")],
            "md_plot": str(outdir / "md_field.png"),
        },
    }
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1))
    _print_summary(summary, rows, time.perf_counter() - t0)
    return summary


def _lammps_step(atoms, outdir: pathlib.Path, elements, steps: int) -> dict:
    from ..integrations.lammps import plugin_path
    from .lammps_md import run_lammps_field_md

    log_path = outdir / "lammps" / "log.lammps"
    return _engine_step(
        "LAMMPS",
        plugin_path,
        lambda: run_lammps_field_md(
            atoms, str(outdir / "model.pt"), elements, outdir / "lammps", steps=steps
        ),
        steps,
        ("log", log_path),
    )


def _openmm_step(atoms, outdir: pathlib.Path, steps: int) -> dict:
    from ..integrations.openmm import load_plugin
    from .openmm_md import run_openmm_field_md

    atoms = atoms.copy()
    atoms.center(vacuum=8.0)
    atoms.set_pbc(True)
    return _engine_step(
        "OpenMM",
        load_plugin,
        lambda: run_openmm_field_md(
            atoms, str(outdir / "model.pt"), outdir / "openmm", steps=steps, dt_fs=0.5
        ),
        steps,
        ("csv", outdir / "openmm" / "openmm_md.csv"),
    )


def _engine_step(name: str, check_plugin, run_md, steps: int, output) -> dict:
    """Run one engine's MD step, or say why it is skipped (plugin not built) and go on."""
    from ..errors import InputError

    try:
        check_plugin()
    except (InputError, ImportError) as exc:
        print(f"skipped: {exc}")
        return {"skipped": str(exc)}
    log = run_md()
    change = float(log["etotal"][-1] - log["etotal"][0])
    key, path = output
    print(f"{name}: {steps} steps, total-energy change {change:.4g} eV, {key} in {path}")
    return {"steps": steps, "energy_change_eV": change, key: str(path)}


def _plot_md(log: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array(log["time"])
    p = np.array(log["polarization"])
    f = np.array(log["field"])
    fig, ax = plt.subplots(2, 1, figsize=(5, 4.5), sharex=True)
    ax[0].plot(t, f[:, 0])
    ax[0].set_ylabel("E_x [V/Å]")
    ax[1].plot(t, p[:, 0] - p[0, 0])
    ax[1].set_ylabel("ΔP_x [e·Å]")
    ax[1].set_xlabel("time [fs]")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _print_summary(summary: dict, rows: list, seconds: float) -> None:
    lines = ["| what | result |", "|---|---|"]
    for r in rows:
        lines.append(f"| test {r['property']} MAE | {r['mae']:.4g} {r['unit']} |")
    lines.append(f"| learned vs teacher charge correlation | {summary['charge_correlation']:.5f} |")
    lines.append(
        f"| MD total-energy change over {summary['md_steps']} steps (AC field on) | "
        f"{summary['md_energy_change_eV']:.4g} eV |"
    )
    lmp = summary.get("lammps", {})
    if "steps" in lmp:
        lines.append(
            f"| LAMMPS 2-rank MD total-energy change over {lmp['steps']} steps | "
            f"{lmp['energy_change_eV']:.4g} eV |"
        )
        lines.append(f"| LAMMPS log | {lmp['log']} |")
    omm = summary.get("openmm", {})
    if "steps" in omm:
        lines.append(
            f"| OpenMM MD total-energy change over {omm['steps']} steps | "
            f"{omm['energy_change_eV']:.4g} eV |"
        )
        lines.append(f"| OpenMM data | {omm['csv']} |")
    for k, v in summary["files"].items():
        lines.append(f"| {k} | {v if isinstance(v, str) else ', '.join(v)} |")
    lines.append(f"| wall time | {seconds / 60:.1f} min |")
    print("\n".join(lines))
