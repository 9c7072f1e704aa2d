"""Training benchmarks: reference energies (E0s) and the first epoch's time.

    python benchmarks/training.py            # ~35 min on one core; writes docs/benchmarks.md
    python benchmarks/training.py --no-write # print only

Short runs: ``examples/train_water.yaml`` (RPBE-D3 liquid water, 64 molecules) trained for 6
epochs three times in one run, from the same seed:

* ``now``: what ``polmlip train`` does, the data's least-squares E0s, and the EMA of the
  weights with its warm-up;
* ``offset E0s``: the same with the data's least-squares E0s minus the untrained model's own
  per-element offset (given as fixed values; ``polmlip train``'s default before this
  benchmark's SPICE section showed it wrong);
* ``before``: data-only E0s and the EMA at its full decay from the first step (the trainer
  before ``model.reference_energies`` and the warm-up).

The table gives the validation energy MAE per atom after each epoch and each epoch's time.

SPICE (skipped with a message when ../shared/data is absent): the SPICE recipe's model and
training settings (``examples/train_spice_bec.yaml``: 16 channels, lmax 2, float32, batch 2)
on the shared SPICE dipeptide training file (ωB97M-D3BJ energies, forces, dipoles and MBI
charges; the recipe's GFN2-xTB Born charges need ``polmlip datagen`` and are left out), 2
epochs with 1 process and with 2 gloo processes (``torchrun``), one thread each, one after the
other in one run: the first epoch against the second, and frames per second.

Large data (``--only memory``, about 15 min): a synthetic set of 200,000 open frames (two
waters each, energies and forces of a harmonic toy potential, dipoles on every other frame)
written as extxyz; ``polmlip preprocess`` makes a frame set of it; one epoch of
``polmlip train`` from the frame set with a small model (4 channels, lmax 1, 1 layer, batch
64); beside it, the trainer's in-memory path (read the extxyz all at once and build every
graph, ``load_splits``). Each step runs in its own process, which reports its peak resident
memory (``ru_maxrss``) and wall time. The cost of building a batch's graphs from the set
(neighbour lists rebuilt per batch) is measured against the epoch's time per frame.

Writes the section "Training" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from report import replace_section  # noqa: E402

from polmlip.fileio import read_checkpoint  # noqa: E402
from polmlip.model import ModelConfig, PolMLIP  # noqa: E402
from polmlip.train.config import load_config  # noqa: E402
from polmlip.train.prepare import fit_energy_shifts, force_rms  # noqa: E402
from polmlip.train.trainer import Trainer  # noqa: E402

WATER = ROOT / "examples" / "train_water.yaml"
SPICE_RECIPE = ROOT / "examples" / "train_spice_bec.yaml"
SPICE_DATA = ROOT.parent / "shared" / "data" / "spice_dipeptides_train.xyz"
OUT = ROOT / "runs" / "bench_training"
#: the energy MAE of train_water.yaml after 6 epochs that issue 29 reported (eV/atom)
REPORTED_BEFORE = 0.22


VARIANTS = ("now", "offset E0s", "before")

#: training frames whose untrained-model energies gave the former default's per-element offset
OFFSET_FRAMES = 256


def untrained_energies(model, graphs, batch_size: int = 8) -> np.ndarray:
    """(len(graphs),) eV: the energy of each frame from ``model`` with its reference energies
    at zero (the network's initial read-out and the long range)."""
    from polmlip import keys
    from polmlip.data.graph import collate

    shift = model.energy_sum.energy_shift
    saved = shift.detach().clone()
    out = []
    with torch.no_grad():
        shift.zero_()
        try:
            for s in range(0, len(graphs), batch_size):
                energy = model(collate(graphs[s : s + batch_size]), compute_forces=False)
                out.append(energy[keys.ENERGY].detach().double().cpu().numpy())
        finally:
            shift.copy_(saved)
    return np.concatenate(out)


def offset_e0s(model, graphs, n_species: int) -> np.ndarray:
    """The former default E0s (eV): the data's least-squares E0s minus the same fit of what
    the untrained ``model`` predicts on up to :data:`OFFSET_FRAMES` frames."""
    sample = graphs[:OFFSET_FRAMES]
    offset = fit_energy_shifts(sample, n_species, untrained_energies(model, sample))
    return fit_energy_shifts(graphs, n_species) - offset


def train_water(variant: str, epochs: int) -> dict:
    """Train train_water.yaml for ``epochs`` as ``variant`` (one of :data:`VARIANTS`);
    returns the history rows and the E0s used."""
    run = load_config(WATER)
    run.training.epochs = epochs
    folder = OUT / variant.replace(" ", "_")
    shutil.rmtree(folder, ignore_errors=True)  # a fresh run, not a resumed one
    run.training.output = str(folder)
    if variant == "offset E0s":
        probe = Trainer(run, progress=False)  # the same seed: the model trained below
        shifts = offset_e0s(probe.model, probe.train_set, len(run.model.elements))
        run.model.reference_energies = dict(zip(run.model.elements, map(float, shifts)))
        del probe
    trainer = Trainer(run, progress=False)
    if variant == "before":
        trainer.ema.updates = 10**9  # no warm-up: the full decay from the first step
    e0 = dict(zip(run.model.elements, trainer.model.energy_sum.energy_shift.tolist()))
    trainer.train()
    return {"history": trainer.history, "e0": e0}


def e0_table(results: dict, epochs: int) -> str:
    names = list(results)
    lines = [
        "| epoch | "
        + " | ".join(f"val energy MAE, {n} [meV/atom]" for n in names)
        + " | "
        + " | ".join(f"epoch time, {n} [s]" for n in names)
        + " |",
        "|---:|" + "---:|" * (2 * len(names)),
    ]
    for k in range(epochs):
        rows = [results[n]["history"][k] for n in names]
        mae = " | ".join(f"{1000 * r['val_energy_mae']:.1f}" for r in rows)
        secs = " | ".join(f"{r['epoch_time_s']:.1f}" for r in rows)
        lines.append(f"| {k + 1} | {mae} | {secs} |")
    return "\n".join(lines)


def spice_run(processes: int, epochs: int) -> dict:
    """The recipe's settings on the shared SPICE training file with ``processes`` gloo
    processes (one thread each); returns the history rows and the training frame count."""
    recipe = yaml.safe_load(SPICE_RECIPE.read_text())
    folder = OUT / f"spice_{processes}proc"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    training = dict(recipe["training"], output=str(folder), epochs=epochs, bec_weight=0.0)
    config = {
        "model": recipe["model"],
        "data": {
            "train": str(SPICE_DATA),
            "val_fraction": recipe["data"]["val_fraction"],
            "keys": {"forces": "force", "charges": "mbi_charges"},
        },
        "training": training,
    }
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "polmlip", "train", str(path), "--quiet"]
    if processes > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        cmd += ["--nproc-per-node", str(processes), "-m", "polmlip", "train", str(path)]
        cmd += ["--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    history = json.loads((folder / "history.json").read_text())
    # the training frame count the run itself recorded (after its validation split)
    frames = read_checkpoint(folder / "checkpoint.pt")["data"]["frames"]["training"]
    return {"history": history, "frames": frames}


def spice_section(epochs: int) -> str:
    if not SPICE_DATA.is_file():
        msg = f"SPICE part skipped: {SPICE_DATA.name} is not in ../shared/data"
        print(msg)
        return msg + "."
    runs = {n: spice_run(n, epochs) for n in (1, 2)}
    lines = [
        "### SPICE recipe: the first epoch, and 1 against 2 processes",
        "",
        "The SPICE recipe's model and settings (`examples/train_spice_bec.yaml`: 16 channels, "
        "lmax 2, 2 layers, charges, dipoles, induced charges and dipoles; float32, batch 2, "
        f"EMA 0.99) on the shared SPICE dipeptide training file ({runs[1]['frames']} training "
        "frames; energies, forces, dipoles, MBI charges; the recipe's GFN2-xTB Born charges "
        "need `polmlip datagen` and are left out), one thread per process, the two runs one "
        "after the other (data: ChengUCB/les_fit). Epoch time includes validation.",
        "",
        "| processes | "
        + " | ".join(f"epoch {k + 1} [s]" for k in range(epochs))
        + " | first / second epoch | frames/s (epoch 2) | speed-up |",
        "|---:|" + "---:|" * (epochs + 3),
    ]
    base = None
    for n, r in runs.items():
        times = [row["epoch_time_s"] for row in r["history"]]
        rate = r["frames"] / times[1]
        base = base or rate
        lines.append(
            f"| {n} | "
            + " | ".join(f"{t:.1f}" for t in times)
            + f" | {times[0] / times[1]:.2f} | {rate:.2f} | {rate / base:.2f}× |"
        )
    same = all(
        abs(a["train_loss"] - b["train_loss"]) <= 1e-4 * abs(a["train_loss"])
        for a, b in zip(runs[1]["history"], runs[2]["history"])
    )
    lines += [
        "",
        "Training losses of the two runs agree to 1e-4 relative in float32: "
        f"{'yes' if same else 'NO'} (float64 agreement to 1e-10 is a CI test).",
    ]
    return "\n".join(lines)


#: frames of the synthetic large set
LARGE_FRAMES = 200_000
LARGE = OUT / "large"
LARGE_MODEL = {"elements": ["H", "O"], "channels": 4, "lmax": 1, "num_layers": 1, "cutoff": 3.0}


def write_large_extxyz(path: pathlib.Path, frames: int, seed: int = 0) -> None:
    """``frames`` open frames of two rigid-ish waters with harmonic toy labels (eV, eV/Å)
    and a dipole on every other frame, written as extxyz in blocks (bounded memory)."""
    rng = np.random.default_rng(seed)
    mol = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    symbols = ["O", "H", "H", "O", "H", "H"]
    with open(path, "w") as f:
        for start in range(0, frames, 10_000):
            lines = []
            for k in range(start, min(frames, start + 10_000)):
                pos = np.concatenate([mol, mol + [2.9, 0.0, 0.0]]) + 0.05 * rng.normal(size=(6, 3))
                d = pos[:, None] - pos[None]
                energy = -14.0 + 0.5 * float(np.triu((d * d).sum(-1), 1).sum()) / 36
                forces = -d.sum(1) / 36
                info = f"energy={energy:.10f}"
                props = "species:S:1:pos:R:3:forces:R:3"
                if k % 2:
                    dip = 0.1 * rng.normal(size=3)
                    info += f' dipole="{dip[0]:.8f} {dip[1]:.8f} {dip[2]:.8f}"'
                lines.append(f'6\nProperties={props} {info} pbc="F F F"')
                for s_, p_, f_ in zip(symbols, pos, forces):
                    lines.append(
                        f"{s_} {p_[0]:.8f} {p_[1]:.8f} {p_[2]:.8f} {f_[0]:.8f} {f_[1]:.8f} "
                        f"{f_[2]:.8f}"
                    )
            f.write("\n".join(lines) + "\n")


def _measure(argv) -> int:
    """``--measure STEP ...``: run one step in this process and print its peak resident
    memory (MB) and wall time (s) as JSON on the last line."""
    step, args = argv[0], argv[1:]
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    info = {}
    if step == "preprocess":
        from polmlip.data.preprocess import preprocess

        manifest = preprocess(args[0], args[1], LARGE_MODEL["cutoff"], progress=False)
        info["frames"] = manifest["frames"]
    elif step == "load-extxyz":
        from polmlip.train.prepare import load_splits

        train, val = load_splits(load_config(args[0]))
        info["frames"] = len(train) + len(val)
    elif step == "train":
        from polmlip.cli.main import main as cli

        cli(["train", args[0], "--quiet"])
    elif step == "graphs":
        from polmlip.data.graph import collate
        from polmlip.data.store import FrameStore, StoredGraphs

        store = FrameStore(args[0])
        graphs = StoredGraphs(store, range(store.frames), ["H", "O"], LARGE_MODEL["cutoff"])
        n = min(6400, store.frames)
        t0 = time.perf_counter()
        for s in range(0, n, 64):
            collate(graphs[s : s + 64])
        info["graph_ms"] = 1000 * (time.perf_counter() - t0) / n
        for name, model in (("small", LARGE_MODEL), ("default", {"elements": ["H", "O"]})):
            info[f"{name}_step_ms"] = _step_time(args[1], model)
    info["seconds"] = time.perf_counter() - t0
    info["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the largest of its child processes (DataLoader workers), pages shared with it included
    info["child_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(info))
    return 0


def _step_time(store: str, model: dict, batches: int = 10) -> float:
    """ms per frame of training steps (loss, backward, optimiser) of ``model`` on batches of
    64 frames of ``store``, graphs built beforehand (the model's own cost)."""
    folder = LARGE / "step_time"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cfg = {
        "model": model,
        "data": {"train": store, "val_fraction": 0.05},
        "training": {"batch_size": 64, "dtype": "float32", "output": str(folder / "out")},
    }
    (folder / "run.yaml").write_text(yaml.safe_dump(cfg))
    run = load_config(folder / "run.yaml")
    run.training.max_frames = 64 * (batches + 1) + 64
    trainer = Trainer(run, progress=False)
    data = list(trainer._batches(trainer.train_set, shuffle=True))[: batches + 1]

    def step(batch):
        trainer.optimizer.zero_grad(set_to_none=True)
        loss, _ = trainer._batch_loss(batch, create_graph=True)
        loss.backward()
        trainer.optimizer.step()

    step(data[0][0])  # warm-up
    t0 = time.perf_counter()
    for batch, _, _ in data[1:]:
        step(batch)
    frames = sum(n for _, n, _ in data[1:])
    trainer.close()
    return 1000 * (time.perf_counter() - t0) / frames


def _run_measured(*args: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--measure", *args]
    out = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_section(frames: int) -> str:
    LARGE.mkdir(parents=True, exist_ok=True)
    xyz = LARGE / f"large_{frames}.xyz"
    if not xyz.is_file():
        print(f"writing {frames} synthetic frames to {xyz.name}", flush=True)
        write_large_extxyz(xyz, frames)
    store = LARGE / f"large_{frames}.frames"
    shutil.rmtree(store, ignore_errors=True)
    print("preprocess", flush=True)
    prep = _run_measured("preprocess", str(xyz), str(store))
    training = {"epochs": 1, "batch_size": 64, "seed": 0, "lr": 0.005, "dtype": "float32"}
    configs = {}
    for name, data, workers in (
        ("frames", store, 0),
        ("frames_worker", store, 1),
        ("extxyz", xyz, 0),
    ):
        folder = LARGE / f"run_{name}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        cfg = {
            "model": LARGE_MODEL,
            "data": {"train": str(data), "val_fraction": 0.05},
            "training": dict(training, output=str(folder / "out"), num_workers=workers),
        }
        configs[name] = folder / "run.yaml"
        configs[name].write_text(yaml.safe_dump(cfg))
    print("train one epoch from the frame set", flush=True)
    train = _run_measured("train", str(configs["frames"]))
    history = json.loads((LARGE / "run_frames" / "out" / "history.json").read_text())
    epoch = history[0]["epoch_time_s"]
    print("the same with one worker process building the batches", flush=True)
    train_w = _run_measured("train", str(configs["frames_worker"]))
    history = json.loads((LARGE / "run_frames_worker" / "out" / "history.json").read_text())
    epoch_w = history[0]["epoch_time_s"]
    print("graphs per batch", flush=True)
    graphs = _run_measured("graphs", str(store), str(store))
    print("read the extxyz all at once", flush=True)
    loaded = _run_measured("load-extxyz", str(configs["extxyz"]))
    size_xyz = xyz.stat().st_size / 1e6
    size_set = sum(f.stat().st_size for f in store.iterdir()) / 1e6
    train_frames = frames - round(0.05 * frames)
    per_frame = 1000 * epoch / frames  # training and validation frames both pass once

    def share(step_ms: float) -> str:
        return f"{100 * graphs['graph_ms'] / (graphs['graph_ms'] + step_ms):.0f} %"

    return "\n".join(
        [
            "### Large data: an on-disk frame set against the extxyz read at once",
            "",
            f"{frames:,} synthetic open frames (two waters each: energies, forces, dipoles on "
            f"every other frame), {size_xyz:.0f} MB of extxyz; frame set {size_set:.0f} MB. "
            "Training: one epoch of `polmlip train` from the frame set "
            f"({train_frames:,} training and {frames - train_frames:,} validation frames) with a "
            "small model (4 channels, lmax 1, 1 layer, cutoff 3 Å, float32, batch 64), one "
            "thread. Each row is its own process; peak = its peak resident memory.",
            "",
            "| step | wall time [s] | peak resident memory [MB] |",
            "|---|---:|---:|",
            f"| `polmlip preprocess` (streams the extxyz once) | {prep['seconds']:.0f} "
            f"| {prep['peak_mb']:.0f} |",
            f"| `polmlip train` from the frame set, whole run (1 epoch, {epoch:.0f} s) "
            f"| {train['seconds']:.0f} | **{train['peak_mb']:.0f}** |",
            f"| the same with `num_workers: 1` (graphs built in a second process; 1 epoch, "
            f"{epoch_w:.0f} s) | {train_w['seconds']:.0f} | {train_w['peak_mb']:.0f} "
            f"(the worker: {train_w['child_peak_mb']:.0f}, pages shared with the training "
            "process counted in both) |",
            f"| extxyz read at once: frames and graphs in memory, before the first step "
            f"| {loaded['seconds']:.0f} | {loaded['peak_mb']:.0f} |",
            "",
            f"Peak memory of training from the frame set: {train['peak_mb']:.0f} MB (target "
            f"< 2000 MB); the extxyz path holds {loaded['peak_mb']:.0f} MB before it trains a "
            "step.",
            "",
            "Neighbour lists are rebuilt per batch. Building a batch's graphs from the set "
            f"costs {graphs['graph_ms']:.2f} ms per frame; a training step (loss, backward, "
            f"optimiser; graphs ready) costs {graphs['small_step_ms']:.2f} ms per frame with "
            f"this small model (graphs: {share(graphs['small_step_ms'])} of the two) and "
            f"{graphs['default_step_ms']:.2f} ms per frame with the default model (16 channels, "
            f"lmax 2; graphs: {share(graphs['default_step_ms'])}). The whole epoch took "
            f"{per_frame:.2f} ms per frame. Stored neighbour lists would save at most that "
            "share, and tie the set to one cutoff at several times the positions' size on "
            "disk; `training.num_workers` builds them in other processes instead, overlapped "
            f"with the steps: one worker took the epoch from {epoch:.0f} s to {epoch_w:.0f} s "
            f"({epoch / epoch_w:.2f}×) on this 2-core machine. The extxyz "
            "path's peak grows with the frames (here its peak over the frame count is "
            f"{loaded['peak_mb'] / max(frames, 1) * 1000:.0f} kB per frame).",
        ]
    )


def e0_section(epochs: int) -> str:
    results = {v: train_water(v, epochs) for v in VARIANTS}
    final = {v: r["history"][-1]["val_energy_mae"] for v, r in results.items()}
    now = final["now"]
    e0 = {v: ", ".join(f"{k} {x:.3f}" for k, x in r["e0"].items()) for v, r in results.items()}
    return "\n".join(
        [
            "### Short runs: reference energies (E0s) and the EMA warm-up",
            "",
            f"`examples/train_water.yaml` (RPBE-D3 liquid water, 8 channels, lmax 2, 50 frames, "
            f"batch 2, EMA decay 0.99) for {epochs} epochs, the same seed: *now* is what "
            "`polmlip train` does (E0s = the data's least-squares E0s; EMA decay "
            "min(0.99, (1 + n)/(10 + n)) at step n); *offset E0s* gives the data's "
            "least-squares E0s minus the untrained model's own per-element offset as fixed "
            "values (the default before the SPICE comparison below); *before* is the trainer "
            "before the EMA warm-up (data-only E0s, EMA at 0.99 from the first step). "
            "Validation uses the EMA weights, as the exported model does.",
            "",
            e0_table(results, epochs),
            "",
            f"E0s [eV]: now {e0['now']}; offset {e0['offset E0s']}. After "
            f"{epochs} epochs: {1000 * now:.1f} meV/atom now, "
            f"{1000 * final['offset E0s']:.1f} with offset E0s, "
            f"{1000 * final['before']:.1f} before ({final['before'] / now:.0f}× smaller now; "
            f"issue 29 reported {1000 * REPORTED_BEFORE:.0f} meV/atom, target ≥ 10× smaller).",
        ]
    )


#: the SPICE validation frames (test set of the open-molecule E0 comparison)
SPICE_VAL = ROOT.parent / "shared" / "data" / "spice_dipeptides_val.xyz"


def e0_spice_section(epochs: int, frames: int = 200) -> str:
    """The full ladder (+imu) on open molecules, E0s as ``polmlip train`` fits them (the
    data's least squares) against the former default (minus the untrained model's per-element
    offset, given as fixed values): the ablation workflow's settings
    (8 channels, lmax 2, batch 2, energies and forces 1 : 10), the first ``frames`` SPICE
    training frames, the 55 validation frames as the test set."""
    import tempfile

    import ase.io

    from polmlip.data.dataset import DataKeys, build_dataset, read_frames
    from polmlip.workflows.ablation import train_rung

    train = read_frames(SPICE_DATA)[:frames]
    test = read_frames(SPICE_VAL)
    elements = sorted({s for a in train + test for s in a.get_chemical_symbols()})
    # the data's least-squares E0s, as the water runs' "data-only E0s" take them
    graphs = build_dataset(train, elements, 4.5, DataKeys(forces=("force",)), ("energy",))
    data_e0 = fit_energy_shifts(graphs, len(elements))
    # the former default, from the untrained model train_rung starts from (its seed, settings)
    probe_config = ModelConfig.from_dict(
        {"elements": elements, "ladder": "+imu", "channels": 8, "lmax": 2, "cutoff": 4.5,
         "num_layers": 2}
    )  # fmt: skip
    torch.manual_seed(0)
    probe = PolMLIP(probe_config).double()
    probe.energy_sum.energy_scale.fill_(force_rms(graphs))
    former_e0 = offset_e0s(probe, graphs, len(elements))
    data = {"keys": {"forces": "force"}, "bec_layout": "displacement-major"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ase.io.write(pathlib.Path(tmp) / "train.xyz", train, format="extxyz")
        for variant, settings in (
            ("now", {}),
            ("offset E0s", {"reference_energies": dict(zip(elements, former_e0.tolist()))}),
        ):
            for rung in ("+imu",):
                run = train_rung(
                    rung, pathlib.Path(tmp) / "train.xyz", test, elements, epochs,
                    pathlib.Path(tmp) / variant.replace(" ", "_"), data,
                    model_settings={"channels": 8, **settings},
                )  # fmt: skip
                e0 = run["model"].energy_sum.energy_shift.tolist()
                rows.append((variant, rung, run["E"], run["F"], e0))
    lines = [
        "### Reference energies on open molecules with the full ladder",
        "",
        f"SPICE dipeptides, the first {frames} frames of `spice_dipeptides_train.xyz`, the 55 "
        f"frames of `spice_dipeptides_val.xyz` as the test set, {epochs} epochs, the ablation "
        "workflow's settings (8 channels, lmax 2, batch 2, energies and forces 1 : 10, "
        "float64): *now* fits the E0s as `polmlip train` does, the data's least-squares E0s "
        f"({', '.join(f'{e} {v:.3f}' for e, v in zip(elements, data_e0))} eV); *offset E0s* "
        "gives those minus the untrained model's own per-element offset (on the model "
        "training starts from) as fixed values, the default before this comparison.",
        "",
        "| E0s | rung | test energy MAE [meV/atom] | test force MAE [meV/Å] | E0s [eV] |",
        "|---|---|---:|---:|---|",
    ]
    for variant, rung, e_mae, f_mae, e0 in rows:
        e0_text = ", ".join(f"{e} {v:.2f}" for e, v in zip(elements, e0))
        lines.append(f"| {variant} | {rung} | {e_mae:.1f} | {f_mae:.1f} | {e0_text} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--measure":
        return _measure(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6, help="epochs of the water runs")
    p.add_argument("--spice-epochs", type=int, default=2, help="epochs of the SPICE runs")
    p.add_argument("--only", choices=("e0", "e0-spice", "spice", "memory"), help="run one part")
    p.add_argument(
        "--large-frames", type=int, default=LARGE_FRAMES, help="frames of the large data set"
    )
    p.add_argument("--no-write", action="store_true", help="print the table only")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    parts = {}
    cache = OUT / "sections.json"
    if cache.is_file():
        parts = json.loads(cache.read_text())
    if args.only in (None, "e0"):
        parts["e0"] = e0_section(args.epochs)
    if args.only in (None, "e0-spice"):
        parts["e0-spice"] = e0_spice_section(15)
    if args.only in (None, "spice"):
        parts["spice"] = spice_section(args.spice_epochs)
    if args.only in (None, "memory"):
        parts["memory"] = memory_section(args.large_frames)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(parts))
    body = "\n".join(
        [
            "`python benchmarks/training.py` (one thread per process, "
            f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}; this "
            f"run {(time.perf_counter() - t0) / 60:.1f} min; `--only e0|e0-spice|spice|memory` "
            "reruns one "
            "and keeps the others' last text).",
            "",
        ]
        + [parts[k] + "\n" for k in ("e0", "e0-spice", "spice", "memory") if k in parts]
    )
    print(body)
    if not args.no_write:
        replace_section(ROOT / "docs" / "benchmarks.md", "Training", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
