"""The main demo: GFN2-xTB data, training, evaluation, export, field-driven MD, IR spectrum.

1. reference data: water clusters labelled by GFN2-xTB (tblite) with Born charges, half of
   the training frames under a uniform field, and held-out test clusters;
2. training on energies, forces, dipoles and Born charges (all heads: q, μ, induced q and μ;
   the labels of ``examples/train_spice_bec.yaml``, compared by
   ``benchmarks/bec_validation.py``; the Born charges drive the field force Z*ᵀE);
3. evaluation on held-out clusters: energy, forces, dipole and BECs against GFN2-xTB;
4. export to one TorchScript file;
5. LAMMPS NVE on 2 MPI ranks under an AC field (``pair_style polmlip``, equal-style field);
6. OpenMM NVE under the same AC field (``PolMLIPForce`` driven by a CustomIntegrator);
7. an IR spectrum from ASE MD with the exported model (dP/dt autocorrelation);
8. a summary table of everything computed and where the files are.

Outputs go to ``demo_output/``.
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np

from ..fileio import atomic_write, write_text

STEPS = [
    "reference data (GFN2-xTB)",
    "training",
    "evaluation",
    "export",
    "LAMMPS MD under a field",
    "OpenMM MD under a field",
    "IR spectrum",
    "summary",
]


#: the demo's model: all heads but quadrupoles, small enough to train in minutes
DEMO_MODEL = {
    "ladder": "+imu",
    "quadrupoles": False,
    "channels": 8,
    "lmax": 1,
    "cutoff": 4.0,
    "num_layers": 2,
}
#: the demo's training settings (besides output and epochs): energies, forces, dipoles, Z*
DEMO_TRAINING = {
    "batch_size": 4,
    "lr": 0.01,
    "ema_decay": 0.9,
    "seed": 0,
    "lr_patience": 4,
    "dipole_weight": 10.0,
    "bec_weight": 20.0,
}


def _say(k: int, text: str) -> None:
    print(f"\n[{k}/{len(STEPS)}] {text}", flush=True)


def run(
    out: str = "demo_output",
    frames: int = 160,
    epochs: int = 40,
    md_steps: int = 400,
    ir_steps: int = 3000,
    quick: bool = False,
) -> dict:
    """Run every demo step; ``quick`` shrinks everything for tests."""
    from ..data.dataset import DataKeys, build_dataset
    from ..export.io import export_model
    from ..qmdata.datagen import generate, water_cluster, write_extxyz_atomic
    from ..train import plots
    from ..train.config import parse_config
    from ..train.evaluate import collect, format_table, metrics_table, parity_plots
    from ..train.trainer import Trainer

    if quick:
        # enough training for 200 stable MD steps of the IR step (2 epochs were not: the
        # MD brought two atoms below the model's minimum distance)
        frames, epochs, md_steps, ir_steps = 24, 30, 20, 200
    n_test = 4 if quick else 12
    molecules = (1, 3) if quick else (1, 6)
    t0 = time.perf_counter()
    outdir = pathlib.Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    elements = ["H", "O"]

    _say(
        1,
        f"reference data: {frames} water clusters ({molecules[0]}-{molecules[1]} molecules) from "
        "GFN2-xTB with Born charges, half under a 0.005-0.01 au field, and test clusters",
    )
    train = generate(
        "water-clusters",
        frames,
        molecules=molecules,
        field_au=(0.005, 0.01),
        field_fraction=0.5,
        bec=True,
        seed=0,
    )
    write_extxyz_atomic(train, outdir / "train.xyz")
    test = generate("water-clusters", n_test, molecules=(2, 4), bec=True, seed=99)
    write_extxyz_atomic(test, outdir / "test.xyz")

    _say(2, f"training all heads for {epochs} epochs on energies, forces, dipoles and Z*")
    training = dict(DEMO_TRAINING, output=str(outdir / "run"), epochs=epochs)
    run_cfg = parse_config(
        {
            "model": dict(DEMO_MODEL, elements=elements),
            "data": {"train": str(outdir / "train.xyz"), "val_fraction": 0.1},
            "training": training,
        }
    )
    trainer = Trainer(run_cfg)
    trainer.train()
    trainer.write_history()
    model = trainer.best_model().eval()
    plots.learning_curve(trainer.history, outdir / "learning_curve.png")

    _say(3, f"evaluation on {n_test} held-out clusters against GFN2-xTB")
    graphs = build_dataset(test, elements, 4.0, DataKeys(), ("energy", "forces", "bec"))
    pairs = collect(model, graphs)
    rows = metrics_table(pairs)
    print(format_table(rows))
    parity_plots(pairs, outdir)
    bec_corr = float(np.corrcoef(pairs["bec"]["pred"], pairs["bec"]["ref"])[0, 1])
    print(f"BEC correlation with GFN2-xTB: r = {bec_corr:.3f}")

    _say(4, "export to one TorchScript file")
    export_model(model, outdir / "model.pt")

    start = water_cluster(4, np.random.default_rng(7), distort=0.3)
    _say(5, "LAMMPS NVE, 2 MPI ranks, pair_style polmlip with an AC field (equal-style variable)")
    lammps = _lammps_step(start, outdir, elements, 40 if quick else md_steps)

    _say(6, "OpenMM NVE, PolMLIPForce with the AC field driven by a CustomIntegrator")
    openmm_log = _openmm_step(start, outdir, 40 if quick else md_steps)

    _say(7, f"IR spectrum: {ir_steps} steps of ASE NVE MD (0.5 fs) of a 4-water cluster")
    ir = _ir_step(start, outdir, ir_steps)

    _say(8, "summary")
    summary = {
        "frames": frames,
        "epochs": epochs,
        "minutes": round((time.perf_counter() - t0) / 60, 2),
        "test_metrics": rows,
        "bec_correlation": bec_corr,
        "lammps": lammps,
        "openmm": openmm_log,
        "ir": ir,
        "files": {
            "train_data": str(outdir / "train.xyz"),
            "test_data": str(outdir / "test.xyz"),
            "model": str(outdir / "model.pt"),
            "learning_curve": str(outdir / "learning_curve.png"),
            "parity": [str(p) for p in sorted(outdir.glob("parity_*.png"))],
            "ir_png": ir["png"],
            "ir_trajectory": ir["trajectory"],
        },
    }
    write_text(outdir / "summary.json", json.dumps(summary, indent=1))
    _print_summary(summary, rows, time.perf_counter() - t0)
    return summary


def _ir_step(atoms, outdir: pathlib.Path, steps: int) -> dict:
    """NVE MD with the exported model; IR from the finite-difference dP/dt of the model's P."""
    import ase.io

    from ..errors import InputError
    from ..integrations.ase import PolMLIPCalculator
    from .ir import band_positions, dipole_derivative_fd, ir_spectrum
    from .ir_io import write_spectrum
    from .md import run_md_frames

    dt, every = 0.5, 2
    calc = PolMLIPCalculator(str(outdir / "model.pt"))
    try:
        traj, dipoles = run_md_frames(atoms.copy(), calc, steps, dt, every, seed=1)
    except InputError as exc:  # an undertrained model's MD leaves its range: say so, go on
        reason = f"IR skipped: the MD left the model's range ({exc}); train longer"
        print(reason)
        return {"bands_cm-1": {}, "png": None, "trajectory": None, "skipped": reason}
    path = outdir / "ir" / "trajectory.xyz"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: ase.io.write(tmp, traj, format="extxyz"))
    wn, inten = ir_spectrum(
        dipole_derivative_fd(dipoles, dt * every),
        dt * every,
        temperature_K=300.0,
        quantum_correction="harmonic",
    )
    bands = band_positions(wn, inten)
    meta = {"source": "finite differences of the model dipole", "timestep_fs": dt * every}
    _, png = write_spectrum(outdir / "ir" / "ir_spectrum", wn, inten, meta, bands)
    print("bands [cm^-1]: " + ", ".join(f"{k} {v:.0f}" for k, v in bands.items()))
    return {"bands_cm-1": bands, "png": str(png), "trajectory": str(path)}


def _lammps_step(atoms, outdir: pathlib.Path, elements, steps: int) -> dict:
    from ..integrations.lammps import plugin_path
    from .lammps_md import run_lammps_field_md

    return _engine_step(
        "LAMMPS",
        plugin_path,
        lambda amplitude, folder: run_lammps_field_md(
            atoms,
            str(outdir / "model.pt"),
            elements,
            outdir / folder,
            steps=steps,
            amplitude=amplitude,
        ),
        steps,
        ("log", "lammps", "log.lammps"),
        outdir,
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
        lambda amplitude, folder: run_openmm_field_md(
            atoms,
            str(outdir / "model.pt"),
            outdir / folder,
            steps=steps,
            dt_fs=0.5,
            amplitude=amplitude,
        ),
        steps,
        ("csv", "openmm", "openmm_md.csv"),
        outdir,
    )


#: amplitude (V/Å, along x) of the demo's AC field; its period is the MD workflows' 50 fs
AC_FIELD = (0.2, 0.0, 0.0)


def _engine_step(name: str, check_plugin, run_md, steps: int, output, outdir) -> dict:
    """One engine's MD under the AC field and, from the same start, at zero field: the
    balance H(t) − H(0) − W(t) (W = −∫ (dE/dt)·P dt, from P logged every step) against the
    NVE noise max |H(t) − H(0)| of the zero-field run. Skipped (and said why) when the plugin
    is not built."""
    from ..errors import InputError

    try:
        check_plugin()
    except (InputError, ImportError) as exc:
        print(f"skipped: {exc}")
        return {"skipped": str(exc)}
    key, folder, filename = output
    field = run_md(AC_FIELD, folder)
    still = run_md((0.0, 0.0, 0.0), folder + "_zero_field")
    change = field["etotal"] - field["etotal"][0]
    residual = float(np.abs(change - field["field_work"]).max())
    work = float(np.abs(field["field_work"]).max())
    noise = float(np.abs(still["etotal"] - still["etotal"][0]).max())
    path = outdir / folder / filename
    print(
        f"{name}: {steps} steps under the AC field: field work up to {work:.4g} eV, "
        f"max |H(t) - H(0) - W(t)| = {residual:.3g} eV; zero-field NVE noise "
        f"max |H(t) - H(0)| = {noise:.3g} eV; {key} in {path}"
    )
    return {
        "steps": steps,
        "field_work_max_eV": work,
        "balance_residual_eV": residual,
        "nve_noise_eV": noise,
        key: str(path),
    }


def _print_summary(summary: dict, rows: list, seconds: float) -> None:
    lines = ["| what | result |", "|---|---|"]
    for r in rows:
        lines.append(f"| test {r['property']} MAE vs GFN2-xTB | {r['mae']:.4g} {r['unit']} |")
    lines.append(f"| BEC correlation with GFN2-xTB | {summary['bec_correlation']:.3f} |")
    for key, name in (("lammps", "LAMMPS 2-rank"), ("openmm", "OpenMM")):
        log = summary.get(key, {})
        if "steps" in log:
            lines.append(
                f"| {name} MD field-work balance over {log['steps']} steps (AC field): "
                f"max abs(H(t) − H(0) − W(t)), against the zero-field NVE noise max "
                f"abs(H(t) − H(0)) | {log['balance_residual_eV']:.3g} eV vs "
                f"{log['nve_noise_eV']:.3g} eV (field work up to "
                f"{log['field_work_max_eV']:.3g} eV) |"
            )
        else:
            lines.append(f"| {name} MD | skipped: {log.get('skipped', '?')} |")
    bands = summary["ir"]["bands_cm-1"]
    lines.append("| IR bands | " + ", ".join(f"{k} {v:.0f} cm⁻¹" for k, v in bands.items()) + " |")
    lines.append(f"| LAMMPS log | {summary['lammps'].get('log', '-')} |")
    lines.append(f"| OpenMM data | {summary['openmm'].get('csv', '-')} |")
    for k, v in summary["files"].items():
        lines.append(f"| {k} | {v if isinstance(v, str) else ', '.join(v)} |")
    lines.append(f"| wall time | {seconds / 60:.1f} min |")
    print("\n".join(lines))
