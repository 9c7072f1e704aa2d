"""The two backbones (NequIP-style and MACE) under the same multipole/response head, on DFT data.

For each backbone, the short-range rung (SR) and the full ladder (+imu), at equal budget
(the same width, epochs, frames, batch and learning rate, energies and forces only), trained
one after the other in this run:

* water (``water_rpbe_d3_64.xyz``): frames 0–39 train, 40–49 test: energy and force MAE;
* SPICE dipeptides: the first ``--spice-frames`` of ``spice_dipeptides_train.xyz`` train,
  the 55 frames of ``spice_dipeptides_val.xyz`` test: energy, force and dipole MAE (dipoles
  never trained on), and the Born charges of the full ladder against the file's DFT Born
  charges (Pearson r over all components, MAE), the models' latent response only.

Cost, measured in the same run: seconds per training epoch (water), and seconds per energy +
forces call of the default width (16 channels, lmax 2, 2 layers, full ladder) of each
backbone, exported as ``polmlip export`` writes it, through the ASE calculator on a
1,536-atom water box, 1 thread, the calls of the two backbones interleaved.

Data: ../shared/data (never copied), published with the latent Ewald summation benchmarks
(ChengUCB/les_fit, data-benchmark/). Writes the section "Backbones" of docs/benchmarks.md.

    python benchmarks/backbones.py [--epochs 15] [--spice-frames 200] [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bec_validation import bec_scores, predict  # noqa: E402
from md_throughput import DEFAULT_EXPORT, ase_force_time  # noqa: E402
from report import replace_section  # noqa: E402

from polmlip import keys  # noqa: E402
from polmlip.data.dataset import DataKeys, build_dataset, read_frames  # noqa: E402
from polmlip.export import export_model  # noqa: E402
from polmlip.model import ModelConfig, PolMLIP  # noqa: E402
from polmlip.qmdata.structures import water_box  # noqa: E402
from polmlip.workflows.ablation import train_rung  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
BACKBONES = ("nequip", "mace")
RUNGS = ("SR", "+imu")
WIDTH = {"channels": 8, "lmax": 2, "num_layers": 2}  # train_rung's network, both backbones


#: the SPICE files' labels: forces under "force", Born charges stored displacement-major
SPICE_DATA = {"keys": {"forces": "force"}, "bec_layout": "displacement-major"}


def spice_bec(model, frames, elements) -> dict:
    """Born-charge scores of ``model`` against the DFT Born charges of ``frames``."""
    graphs = build_dataset(
        frames,
        elements,
        4.5,
        DataKeys(forces=("force",)),
        ("energy", "bec"),
        bec_layout=SPICE_DATA["bec_layout"],
    )
    ref = np.concatenate([g[keys.REF_BEC].numpy() for g in graphs])
    _, pred, _ = predict(model, graphs, bec=True)
    return bec_scores(pred, ref)


def force_call_seconds(workdir: pathlib.Path, rounds: int) -> dict:
    """Seconds per energy + forces call (ASE, 1 thread) of each backbone at the default width,
    the backbones interleaved ``rounds`` times; the fastest round's median counts."""
    atoms = water_box(512, seed=1)
    files = {}
    for backbone in BACKBONES:
        torch.manual_seed(0)
        model = PolMLIP(ModelConfig.from_dict({"elements": ["H", "O"], "backbone": backbone}))
        files[backbone] = workdir / f"{backbone}.pt"
        export_model(model, files[backbone], **DEFAULT_EXPORT)
    times = {b: [] for b in BACKBONES}
    for _ in range(rounds):
        for backbone in BACKBONES:
            times[backbone].append(ase_force_time(atoms, files[backbone], 5, 1))
    return {b: min(t) for b, t in times.items()}, len(atoms)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--spice-frames", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="2 epochs, 20 frames (smoke test)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the shared DFT data sets are needed)")
        return 0
    torch.set_default_dtype(torch.float64)
    epochs = 2 if args.quick else args.epochs
    n_spice = 20 if args.quick else args.spice_frames
    t_start = time.perf_counter()
    import ase.io

    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        water = read_frames(DATA / "water_rpbe_d3_64.xyz")
        water_train = water[:8] if args.quick else water[:40]
        water_test = water[40:42] if args.quick else water[40:50]
        ase.io.write(work / "water_train.xyz", water_train, format="extxyz")
        spice_train = read_frames(DATA / "spice_dipeptides_train.xyz")[:n_spice]
        spice_test = read_frames(DATA / "spice_dipeptides_val.xyz")
        if args.quick:
            spice_test = spice_test[:4]
        ase.io.write(work / "spice_train.xyz", spice_train, format="extxyz")
        elements = sorted({s for a in spice_train + spice_test for s in a.get_chemical_symbols()})
        rows = []
        for backbone in BACKBONES:
            for rung in RUNGS:
                settings = dict(WIDTH, backbone=backbone)
                print(f"{backbone}, rung {rung}: water ...", flush=True)
                w = train_rung(
                    rung, work / "water_train.xyz", water_test, ["H", "O"], epochs,
                    work / f"water_{backbone}", model_settings=settings,
                )  # fmt: skip
                print(f"{backbone}, rung {rung}: SPICE ...", flush=True)
                s = train_rung(
                    rung, work / "spice_train.xyz", spice_test, elements, epochs,
                    work / f"spice_{backbone}", SPICE_DATA,
                    model_settings=settings,
                )  # fmt: skip
                bec = spice_bec(s["model"], spice_test, elements) if rung != "SR" else None
                rows.append((backbone, rung, w, s, bec))
                print(f"  water F {w['F']:.1f} meV/Å, SPICE F {s['F']:.1f} meV/Å", flush=True)
        calls, n_atoms = force_call_seconds(work, 1 if args.quick else 3)
        # one training epoch at the default width (16 channels, lmax 2, full ladder), water
        epoch_default = {}
        for backbone in BACKBONES:
            run = train_rung(
                "+imu", work / "water_train.xyz", water_test, ["H", "O"], 1,
                work / f"epoch_{backbone}", model_settings={"backbone": backbone, "channels": 16},
            )  # fmt: skip
            epoch_default[backbone] = 60 * run["minutes"]
    elapsed = time.perf_counter() - t_start
    counts = (len(water_train), len(water_test), n_spice, len(spice_test))
    text = _report(rows, (calls, epoch_default), n_atoms, args, epochs, counts, elapsed)
    print(text)
    if not args.no_write:
        replace_section(ROOT / "docs" / "benchmarks.md", "Backbones", text)
        print("wrote docs/benchmarks.md")
    return 0


def _report(rows, costs, n_atoms, args, epochs, counts, elapsed) -> str:
    n_water, n_water_test, n_spice, n_spice_test = counts
    calls, epoch_default = costs
    cmd = "python benchmarks/backbones.py" + (
        " --quick" if args.quick else f" --epochs {epochs} --spice-frames {n_spice}"
    )
    lines = [
        f"Command: `{cmd}` ({elapsed / 60:.0f} min). Date: "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}. One seed, one run: an equal-budget comparison, not "
        "converged models.",
        "",
        f"Training, every row: {WIDTH['channels']} channels, lmax {WIDTH['lmax']}, "
        f"{WIDTH['num_layers']} layers, r_c 4.5 Å, σ 1 Å, {epochs} epochs, batch 2, lr 0.005, "
        "energies and forces only (weights 1 : 10), float64, CPU; MACE with correlation 3. "
        f"Water: the first {n_water} frames train (10 % of them held out for early "
        f"stopping), {n_water_test} frames from frame 40 on test. SPICE: the first {n_spice} "
        f"frames of `spice_dipeptides_train.xyz` train, {n_spice_test} frames of "
        "`spice_dipeptides_val.xyz` test. "
        "Born charges: the model's own (∂P/∂r of its latent charges, dipoles and response; "
        "never trained on) against the file's DFT Born charges, Pearson r over all 9 "
        "components and MAE; the SR rung has none. Data: ChengUCB/les_fit, data-benchmark/.",
        "",
        "| backbone | rung | water E MAE [meV/atom] | water F MAE [meV/Å] | s per epoch "
        "(water) | SPICE E MAE [meV/atom] | SPICE F MAE [meV/Å] | SPICE dipole MAE [e·Å] | "
        "SPICE Z* r | SPICE Z* MAE [e] |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backbone, rung, w, s, bec in rows:
        dip = f"{s['dipole']:.3f}" if "dipole" in s else "—"
        r = f"{bec['r']:.3f}" if bec else "—"
        mae = f"{bec['mae']:.3f}" if bec else "—"
        lines.append(
            f"| {backbone} | {rung} | {w['E']:.2f} | {w['F']:.1f} | "
            f"{60 * w['minutes'] / epochs:.1f} | {s['E']:.2f} | {s['F']:.1f} | {dip} | {r} | "
            f"{mae} |"
        )
    lines += [
        "",
        "At the default width (16 channels, lmax 2, 2 layers, full ladder): a force call of "
        f"the file as `polmlip export` writes it, ASE calculator, {n_atoms} water atoms, 1 "
        "thread, the backbones interleaved, the fastest of the rounds' medians; and one "
        f"training epoch on the {n_water} water frames (float64, batch 2, this process's "
        "threads, including the run's setup and one validation pass):",
        "",
        "| backbone | s per energy + forces call | atom-steps/s | s per training epoch |",
        "|---|---:|---:|---:|",
        *[
            f"| {b} | {t:.4f} | {n_atoms / t:,.0f} | {epoch_default[b]:.1f} |"
            for b, t in calls.items()
        ],
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
