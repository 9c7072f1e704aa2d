"""Inference speed of exported polmlip models at the size users train (writes docs/benchmarks.md).

One energy + forces + stress call, as the ASE calculator makes it (``polmlip.integrations.ase``:
graph built once, then ``module(inputs, requested)`` under
``torch.jit.optimized_execution(False)``), on random rigid-water boxes of 1,536 and 12,288
atoms (``bench_systems.water_box``), everything at 1 thread, float64 and float32, for:

* the fast path: the exported module as it is (fused ``polmlip::tp_conv`` convolution and the
  radial tables made at export, where this code has them), also as the mixed-precision file
  ``polmlip export`` writes by default (float32 network, float64 long range);
* the e3nn path of the same file (``set_fast_path(False)``, and ``set_radial_table(False)``
  where the file has tables): the training path;
* the baseline: the same model built and exported by the code of commit 21d501d (before the
  fused operator), run in a subprocess from a git worktree under ``benchmarks/.cache``;
* MACE of equal width (16x0e+16x1o+16x2e, 2 interactions, r_max 4.5), in its own virtual
  environment ``benchmarks/.cache/mace-venv`` (mace-torch pins an older e3nn), created on
  first use or with ``--setup-mace``.

Each case: 2 warm-up calls, then the minimum and median of the timed calls. The work of one
call is counted once per box with ``torch.utils.flop_counter.FlopCounterMode`` (e3nn path,
eager) and divided by each path's time; the core's peak is a large single-thread matmul.

Run:  python benchmarks/inference_speed.py              (full, ~35 min on 2 shared cores)
      python benchmarks/inference_speed.py --quick --no-write
      python benchmarks/inference_speed.py --setup-mace  (only (re)create the MACE env)
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))

ROOT = pathlib.Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"  # git-ignored
TITLE = "Inference speed at the size users train"
DOC = ROOT / "docs" / "benchmarks.md"
BASELINE = "21d501d"  # the last commit before the fused convolution
MACE_VENV = CACHE / "mace-venv"
# torch first and pinned (the CPU wheel): an unpinned torch pulls gigabytes of CUDA wheels
TORCH_PIN = "torch==2.13.0"
MACE_PIN = "mace-torch==0.3.16"  # pins e3nn 0.4.4: never in the project's environment
SIZES = (1536, 12288)
QUICK_SIZES = (1536,)
SEED = 0  # model weights
BOX_SEED = 1
WARMUP = 2
REPEATS, QUICK_REPEATS = 10, 3  # timed calls of a fast case
MIN_REPEATS, QUICK_MIN_REPEATS = 2, 1  # ... of a slow one
CASE_BUDGET_S, QUICK_BUDGET_S = 20.0, 5.0  # slow cases get this many seconds of timed calls
PEAK_N = 2048  # matmul size of the peak measurement
MODELS = {
    "default": {"elements": ["H", "O"]},
    "small": {"elements": ["H", "O"], "channels": 8, "lmax": 1},
}
DTYPES = ("float64", "float32")
# the mixed-precision file of `polmlip export` (float32 network, float64 long range and
# interface), timed on the fast path of the default model where this code can write it
MIXED = "mixed"
DTYPE_TEXT = {"float64": "float64", "float32": "float32", MIXED: "float32 network (mixed)"}
PATHS = {
    "fast": "fast path (file as exported)",
    "e3nn": "e3nn path, same code",
    "baseline": f"baseline, commit {BASELINE}",
    "mace": "MACE, equal width",
}
MACE_MODEL = dict(
    hidden_irreps="16x0e+16x1o+16x2e",
    num_interactions=2,
    r_max=4.5,
    max_ell=2,
    correlation=3,
    num_bessel=8,
    num_polynomial_cutoff=5,
    MLP_irreps="16x0e",
    radial_MLP=[64, 64, 64],
    interaction="RealAgnosticResidualInteractionBlock",
)
TARGET_BASELINE = 5.0  # fast path ≥ 5× the baseline at float32
TARGET_MACE = 10.0  # fast path ≥ 10× MACE of equal width


def log(*args) -> None:
    """Progress line on stderr (stdout of a worker carries its JSON)."""
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# systems and models


def water_atoms(n_atoms: int, seed: int = BOX_SEED):
    """ase.Atoms of ``bench_systems.water_box`` (O, H, H per molecule), periodic."""
    import ase
    from bench_systems import water_box

    pos, cell, _ = water_box(n_atoms, seed=seed)
    return ase.Atoms("OHH" * (n_atoms // 3), positions=pos.numpy(), cell=cell.numpy(), pbc=True)


def save_box(atoms, path: pathlib.Path) -> None:
    np.savez(path, numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell.array)


def load_box(path):
    import ase

    with np.load(path) as f:
        return ase.Atoms(numbers=f["numbers"], positions=f["positions"], cell=f["cell"], pbc=True)


def model_text(name: str) -> str:
    """``default model: 16 channels, lmax 2, 2 layers, full response`` (from the config)."""
    from polmlip.model import ModelConfig

    cfg = ModelConfig.from_dict(dict(MODELS[name]))
    heads = [cfg.charges, cfg.dipoles, cfg.induced_charges, cfg.induced_dipoles]
    response = "full response" if all(heads) else "partial response"
    return (
        f"{name} model: {cfg.channels} channels, lmax {cfg.lmax}, {cfg.num_layers} layers, "
        f"{response}"
    )


def export_models(folder: pathlib.Path, names, dtypes=DTYPES) -> dict:
    """Export each model of ``names`` (seeded) in each dtype with the importable polmlip;
    returns ``{(name, dtype): path}``."""
    from polmlip.export.io import export_model
    from polmlip.model import ModelConfig, PolMLIP

    out = {}
    for name in names:
        torch.manual_seed(SEED)
        model = PolMLIP(ModelConfig.from_dict(dict(MODELS[name])))
        for dtype in dtypes:
            path = folder / f"{name}_{dtype}.pt"
            if dtype == MIXED:
                export_model(model.double(), path, network_dtype="float32")
            else:
                export_model(model.to(getattr(torch, dtype)), path)
            out[name, dtype] = path
    return out


def ops_fingerprint():
    """(path, modification time) of the operator library this process loaded, or None."""
    from polmlip import ops

    found = [p for p in ops.library_candidates() if p.is_file()]
    return (str(found[0]), found[0].stat().st_mtime_ns) if found else None


def has_radial_tables(path) -> bool:
    """Whether an exported file has radial tables (``set_radial_table``) switched on."""
    from polmlip.export.io import load_exported

    engine, _ = load_exported(path)
    if not hasattr(engine, "set_radial_table"):
        return False
    return bool(getattr(engine.model.body, "compressed", False))


def can_write_mixed() -> bool:
    """Whether this polmlip's ``export_model`` writes mixed-precision files."""
    import inspect

    from polmlip.export.io import export_model

    return "network_dtype" in inspect.signature(export_model).parameters


# ---------------------------------------------------------------------------------------
# timing


def _cpu_probe():
    """``bench_runners.cpu_seconds`` (machine busy and own CPU seconds), None where the
    benchmark helpers cannot be imported (the MACE environment has no polmlip)."""
    try:
        from bench_runners import cpu_seconds
    except ImportError:
        return None
    return cpu_seconds


def time_calls(call, repeats: int, budget: float, min_repeats: int = 1, warmup: int = WARMUP):
    """Time ``call()`` after ``warmup`` calls: ``repeats`` calls, fewer (≥ ``min_repeats``)
    when that would take over ``budget`` seconds. Returns dict(t_min, t_med, reps, other:
    cores used by other processes while timing (None where unmeasured), value: the last
    call's return value)."""
    t_warm = 0.0
    for _ in range(warmup):
        t0 = time.perf_counter()
        call()
        t_warm = time.perf_counter() - t0
    n = max(min_repeats, min(repeats, int(budget / max(t_warm, 1e-9))))
    probe = _cpu_probe()
    before = probe() if probe else None
    start = time.perf_counter()
    times = []
    value = None
    for _ in range(n):
        t0 = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    other = None
    if probe:
        busy, own = probe()
        other = max(0.0, (busy - before[0]) - (own - before[1])) / wall
    return dict(t_min=min(times), t_med=statistics.median(times), reps=n, other=other, value=value)


def engine_call(path, atoms, fast=None):
    """``(call, number of edges)``: ``call()`` runs one energy + forces + stress call of the
    exported file ``path`` on ``atoms`` as the ASE calculator does and returns the energy.
    ``fast``: None leaves the file as exported (files of older code have no switches); True
    sets the fused convolution; False the training path: e3nn's tensor product and, where
    the file has radial tables, the radial networks."""
    from polmlip.data.graph import atoms_to_graph
    from polmlip.export.adapter import engine_inputs, requested_outputs
    from polmlip.export.io import load_exported

    engine, meta = load_exported(path)
    if fast is not None:
        engine.set_fast_path(fast)
    if fast is False and hasattr(engine, "set_radial_table"):
        engine.set_radial_table(False)
    dtype = getattr(torch, meta["dtype"])
    # random boxes may put two atoms closer than the model's minimum distance: harmless here
    graph = atoms_to_graph(
        atoms,
        meta["elements"],
        float(meta["cutoff"]),
        [0.0, 0.0, 0.0],
        0.0,
        dtype=dtype,
        min_distance=0.0,
    )
    inputs = engine_inputs(graph)
    requested = requested_outputs(True, True, False)

    def call():
        with torch.jit.optimized_execution(False):
            out = engine(inputs, requested)
        return float(out["energy"])

    return call, int(inputs["edge_index"].shape[1])


def time_engine(
    path,
    atoms,
    fast=None,
    repeats=REPEATS,
    budget=CASE_BUDGET_S,
    min_repeats=1,
    warmup=WARMUP,
):
    """Seconds of one energy + forces + stress call of an exported file (see
    :func:`engine_call` and :func:`time_calls`); adds ``energy`` and ``edges``."""
    call, edges = engine_call(path, atoms, fast)
    res = time_calls(call, repeats, budget, min_repeats, warmup)
    res["energy"] = res.pop("value")
    res["edges"] = edges
    return res


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker: its per-module hooks on tensors make
    ``torch.autograd.grad`` on leaves (forces) fail; only the total is needed here."""

    parents = frozenset({"Global"})

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def flop_counter():
    """A ``FlopCounterMode`` that counts totals only (see :class:`_GlobalOnly`)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()
    return counter


def count_flops(name: str, atoms) -> int:
    """Floating-point operations of one energy + forces + stress call of model ``name``
    (float64, e3nn path, eager: not scripted), forward and backward, as counted by
    ``FlopCounterMode`` (matrix products and convolutions; elementwise work, gathers,
    scatters and FFTs are not counted)."""
    from polmlip.data.graph import atoms_to_graph
    from polmlip.export.adapter import engine_inputs, requested_outputs
    from polmlip.export.engine_model import EngineModel
    from polmlip.model import ModelConfig, PolMLIP

    torch.manual_seed(SEED)
    cfg = ModelConfig.from_dict(dict(MODELS[name]))
    engine = EngineModel(PolMLIP(cfg).double()).eval()
    engine.set_fast_path(False)
    if hasattr(engine, "set_radial_table"):
        engine.set_radial_table(False)
    graph = atoms_to_graph(atoms, cfg.elements, cfg.cutoff, dtype=torch.float64, min_distance=0.0)
    counter = flop_counter()
    with counter:
        engine(engine_inputs(graph), requested_outputs(True, True, False))
    return int(counter.get_total_flops())


def matmul_peak(dtype, n: int = PEAK_N, repeats: int = 3) -> float:
    """FLOP/s of an n×n single-thread matmul (best of ``repeats`` after one warm-up)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g, dtype=dtype)
    b = torch.randn(n, n, generator=g, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


# ---------------------------------------------------------------------------------------
# workers (subprocesses): the baseline code, and MACE in its own environment


def baseline_worker(job: dict) -> list:
    """Export and time the models with the polmlip found on PYTHONPATH (the baseline tree)."""
    import polmlip

    where = pathlib.Path(polmlip.__file__).resolve()
    if pathlib.Path(job["expect_src"]).resolve() not in where.parents:
        raise RuntimeError(f"imported polmlip from {where}, expected {job['expect_src']}")
    from polmlip import ops

    log(f"  baseline: polmlip from {where.parent}, operators: {ops.backend()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = export_models(pathlib.Path(tmp), job["models"], job["dtypes"])
        for n, box in job["boxes"].items():
            atoms = load_box(box)
            for (name, dtype), path in files.items():
                res = time_engine(
                    path, atoms, None, job["repeats"], job["budget"], job["min_repeats"]
                )
                rows.append(dict(res, model=name, n=int(n), path="baseline", dtype=dtype))
                log(progress_line(rows[-1]))
    return rows


def mace_model(avg_neighbors: float):
    """MACE of equal width (:data:`MACE_MODEL`), seeded, H and O, float64."""
    from e3nn import o3
    from mace import modules

    torch.set_default_dtype(torch.float64)
    torch.manual_seed(SEED)
    s = MACE_MODEL
    block = modules.interaction_classes[s["interaction"]]
    return modules.MACE(
        r_max=s["r_max"],
        num_bessel=s["num_bessel"],
        num_polynomial_cutoff=s["num_polynomial_cutoff"],
        max_ell=s["max_ell"],
        interaction_cls=block,
        interaction_cls_first=block,
        num_interactions=s["num_interactions"],
        num_elements=2,
        hidden_irreps=o3.Irreps(s["hidden_irreps"]),
        MLP_irreps=o3.Irreps(s["MLP_irreps"]),
        atomic_energies=np.zeros(2),
        avg_num_neighbors=avg_neighbors,
        atomic_numbers=[1, 8],
        correlation=s["correlation"],
        gate=torch.nn.functional.silu,
        radial_MLP=s["radial_MLP"],
    ).eval()


def mace_batch(atoms, dtype):
    """MACE's input dict of one frame, its own neighbour list (``AtomicData.from_config``)."""
    from mace import data as mace_data
    from mace import tools
    from mace.tools import torch_geometric

    torch.set_default_dtype(dtype)
    config = mace_data.config_from_atoms(atoms)
    graph = mace_data.AtomicData.from_config(
        config, z_table=tools.AtomicNumberTable([1, 8]), cutoff=MACE_MODEL["r_max"]
    )
    loader = torch_geometric.dataloader.DataLoader([graph], batch_size=1, shuffle=False)
    return next(iter(loader)).to_dict()


def mace_worker(job: dict) -> list:
    """Time MACE (eager, as its ASE calculator runs it) and count its work like polmlip's:
    one model built in float64, its float32 copy by ``.float()`` (as for polmlip)."""
    import copy
    import warnings

    import mace

    # e3nn 0.4.4 scripts its code-generated modules: silence TorchScript's notes on them
    warnings.filterwarnings("ignore", message="The TorchScript type system")
    log(f"  MACE {getattr(mace, '__version__', '?')}, torch {torch.__version__}")
    rows = []
    model64 = None
    for n, box in job["boxes"].items():
        atoms = load_box(box)
        flops = None
        for dtype_name in job["dtypes"]:
            dtype = getattr(torch, dtype_name)
            batch = mace_batch(atoms, dtype)
            edges = int(batch["edge_index"].shape[1])
            if model64 is None:
                model64 = mace_model(edges / len(atoms))
            model = model64 if dtype == torch.float64 else copy.deepcopy(model64).to(dtype)

            def call(model=model, batch=batch):
                out = model(batch, compute_force=True, compute_stress=True)
                return float(out["energy"].detach().sum())

            if flops is None:  # once per box
                counter = flop_counter()
                with counter:
                    call()
                flops = int(counter.get_total_flops())
            res = time_calls(call, job["repeats"], job["budget"], job["min_repeats"])
            res["energy"] = res.pop("value")
            rows.append(
                dict(
                    res,
                    model="default",
                    n=int(n),
                    path="mace",
                    dtype=dtype_name,
                    edges=edges,
                    flops=flops,
                )
            )
            log(progress_line(rows[-1]))
    return rows


def run_worker(kind: str, job: dict, python, env: dict) -> list:
    """Run this script as a ``kind`` worker under ``python``; its rows, with the cores used
    by other processes over the whole worker run where the worker could not measure them."""
    probe = _cpu_probe()
    before = probe() if probe else None
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
    try:
        proc = subprocess.run(
            [str(python), str(pathlib.Path(__file__).resolve()), "--worker", kind, f.name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise RuntimeError(f"the {kind} worker failed (exit {proc.returncode}; see above)")
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    if probe:
        busy, _ = probe()
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = (child1.ru_utime + child1.ru_stime) - (child0.ru_utime + child0.ru_stime)
        other = max(0.0, busy - before[0] - child) / (time.perf_counter() - start)
        for r in rows:
            if r.get("other") is None:
                r["other"], r["other_whole_run"] = other, True
    return rows


def worker_env(**extra) -> dict:
    """The environment of a worker: 1 thread, no PYTHONPATH of ours, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **extra)
    return env


def baseline_tree(commit: str = BASELINE) -> pathlib.Path:
    """A git worktree of ``commit`` under :data:`CACHE` (created once, then reused)."""
    path = CACHE / f"baseline-{commit}"
    want = subprocess.run(
        ["git", "rev-parse", commit + "^{commit}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if (path / ".git").exists():
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True
        ).stdout.strip()
        if head == want:
            return path
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT)
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), want],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return path


def ops_library() -> pathlib.Path:
    """The current build's native operators (a superset of the baseline's): the library
    this process loads (``POLMLIP_OPS_LIBRARY`` or ``polmlip/lib``)."""
    from polmlip import ops

    found = [p for p in ops.library_candidates() if p.is_file()]
    if not found:
        raise RuntimeError("the native operator library is not built (python/polmlip/lib)")
    return found[0].resolve()


def mace_python(setup: bool = False):
    """``(python of the MACE env, None)``, creating the env when missing (or when ``setup``),
    or ``(None, reason)`` when it cannot be had."""
    python = MACE_VENV / "bin" / "python"
    check = [str(python), "-c", "import mace.modules, e3nn; print(e3nn.__version__)"]
    if not setup and python.exists():
        if subprocess.run(check, capture_output=True, env=worker_env()).returncode == 0:
            return python, None
    log(f"creating the MACE environment {MACE_VENV.relative_to(ROOT)} ({TORCH_PIN}, {MACE_PIN})")
    shutil.rmtree(MACE_VENV, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    constraints = CACHE / "mace-constraints.txt"
    constraints.write_text(TORCH_PIN + "\n")
    steps = [
        [sys.executable, "-m", "venv", str(MACE_VENV)],
        [str(python), "-m", "pip", "install", "-q", TORCH_PIN],
        [str(python), "-m", "pip", "install", "-q", "-c", str(constraints), MACE_PIN],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=worker_env())
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
            return None, f"`{' '.join(cmd[-2:])}` failed: {tail[0]}"
    proc = subprocess.run(check, capture_output=True, text=True, env=worker_env())
    if proc.returncode != 0:
        return None, f"mace does not import: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
    return python, None


# ---------------------------------------------------------------------------------------
# report


def progress_line(r: dict) -> str:
    other = "" if r.get("other") is None else f", other CPU {r['other']:.2f}"
    return (
        f"  {r['model']:>7} N={r['n']:>5} {r['path']:>8} {r['dtype']}: min {r['t_min']:.3f} s, "
        f"median {r['t_med']:.3f} s ({r['reps']} calls{other}), E = {r['energy']:.6f} eV"
    )


def fmt_s(t):
    return "—" if t is None else (f"{t:.4f}" if t < 1 else f"{t:.3f}" if t < 10 else f"{t:.1f}")


def find(rows, **match):
    for r in rows:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def ratio(a, b):
    """t_min(b) / t_min(a): how many times faster ``a`` is; None if either is missing."""
    return None if a is None or b is None else b["t_min"] / a["t_min"]


def fmt_x(x):
    return "—" if x is None else f"{x:.2f}×"


def results_table(rows, model, flops, peaks) -> list:
    """One line per (atoms, path, dtype) of ``model``."""
    lines = [
        "| atoms | path | dtype | min [s] | median [s] | calls | atom-steps/s | fast path "
        "faster by | eff. GFLOP/s | % of peak | other CPU | ΔE/E vs e3nn |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in [r for r in rows if r["model"] == model]:
        fast = find(rows, model=model, n=r["n"], path="fast", dtype=r["dtype"])
        same = "float64" if r["dtype"] == MIXED else r["dtype"]
        ref = find(rows, model=model, n=r["n"], path="e3nn", dtype=same)
        work = r.get("flops") or flops.get((model, r["n"]))
        gflops = work / r["t_min"] / 1e9 if work else None
        peak = peaks.get(r["dtype"])
        d_e = (
            "—"
            if ref is None or r is ref or r["path"] == "mace"
            else f"{abs(r['energy'] - ref['energy']) / abs(ref['energy']):.1e}"
        )
        other = "—" if r.get("other") is None else f"{r['other']:.2f}"
        if r.get("other_whole_run"):
            other += "†"
        lines.append(
            f"| {r['n']:,} | {PATHS[r['path']]} | {DTYPE_TEXT[r['dtype']]} | "
            f"{fmt_s(r['t_min'])} | "
            f"{fmt_s(r['t_med'])} | {r['reps']} | {r['n'] / r['t_min']:,.0f} | "
            f"{'—' if r is fast else fmt_x(ratio(fast, r))} | "
            f"{'—' if gflops is None else f'{gflops:.2f}'} | "
            f"{'—' if gflops is None or not peak else f'{100 * gflops * 1e9 / peak:.1f}'} | "
            f"{other} | {d_e} |"
        )
    return lines


def verdicts(rows, sizes, mace_note) -> list:
    """Target lines: fast path ≥ 5× the baseline (float32), ≥ 10× MACE (each dtype)."""
    lines = []
    for n in sizes:
        fast = find(rows, model="default", n=n, path="fast", dtype="float32")
        base = find(rows, model="default", n=n, path="baseline", dtype="float32")
        x = ratio(fast, base)
        ok = "not measured" if x is None else ("**met**" if x >= TARGET_BASELINE else "**missed**")
        lines.append(
            f"- Fast path ≥ {TARGET_BASELINE:g}× the baseline ({BASELINE}), float32, {n:,} "
            f"atoms: {fmt_x(x)} — {ok}."
        )
    for n in sizes:
        for dtype in DTYPES:
            fast = find(rows, model="default", n=n, path="fast", dtype=dtype)
            mace = find(rows, model="default", n=n, path="mace", dtype=dtype)
            x = ratio(fast, mace)
            ok = (
                f"not measured ({mace_note})"
                if x is None
                else ("**met**" if x >= TARGET_MACE else "**missed**")
            )
            lines.append(
                f"- Fast path ≥ {TARGET_MACE:g}× faster than MACE of equal width, {dtype}, "
                f"{n:,} atoms: {fmt_x(x)} — {ok}."
            )
    for n in sizes:
        mixed = find(rows, model="default", n=n, path="fast", dtype=MIXED)
        if mixed is None:
            continue
        names = {"baseline": f"the baseline ({BASELINE})", "mace": "MACE of equal width"}
        parts = []
        for path, dtype in (("baseline", "float64"), ("baseline", "float32"), ("mace", "float64")):
            other = find(rows, model="default", n=n, path=path, dtype=dtype)
            if other is not None:
                parts.append(f"{fmt_x(ratio(mixed, other))} faster than {names[path]} in {dtype}")
        if parts:
            lines.append(
                f"- For information, {n:,} atoms: the mixed-precision file (`polmlip export`'s "
                "default: float32 network, float64 long range) on the fast path is "
                + ", ".join(parts)
                + "."
            )
    return lines


def noise_line(rows) -> list:
    """The e3nn path and the baseline compute the same thing (the training path, then and
    now): the spread of their time ratio shows the noise of one comparison here."""
    pairs = []
    for r in rows:
        if r["path"] == "e3nn":
            base = find(rows, model=r["model"], n=r["n"], path="baseline", dtype=r["dtype"])
            if base is not None:
                pairs.append(base["t_min"] / r["t_min"])
    if len(pairs) < 2:
        return []
    return [
        "**Noise.** The e3nn path and the baseline run the same model through e3nn (energies "
        "agree, column ΔE/E), the code between them changed elsewhere; their time ratio "
        f"(baseline / e3nn path) ranged {min(pairs):.2f}–{max(pairs):.2f} over the "
        f"{len(pairs)} cases of this run, which bounds how much to read into a single "
        "ratio on this machine (shared, 2 cores; see the other-CPU column).",
        "",
    ]


def code_state() -> str:
    """The measured code: commit of the git tree polmlip was imported from, whether that is
    this repository's working tree, and whether it has uncommitted changes."""
    import polmlip

    src = pathlib.Path(polmlip.__file__).resolve().parents[2]

    def git(*cmd):
        proc = subprocess.run(["git", *cmd], cwd=src, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "?"
    where = "this working tree" if src == ROOT else "another checkout (PYTHONPATH)"
    if src != ROOT and CACHE in src.parents:
        where = f"a worktree under benchmarks/.cache ({src.name})"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "python", "cpp")
    return f"commit {head}, {where}" + (
        ", with uncommitted changes under python/ or cpp/" if dirty else ""
    )


def changes_during_run(code0: str, lib0) -> str:
    """A note when the working tree or the operator library changed while the run went on."""
    note = ""
    code1 = code_state()
    if code1 != code0:
        note += (
            f" (at the start; at the end: {code1}. The in-process paths ran the code imported "
            "at the start)"
        )
    if ops_fingerprint() != lib0:
        note += (
            ". The operator library was rebuilt during the run: the in-process paths used the "
            "one loaded at the start, the baseline subprocesses the one present when each "
            "started"
        )
    return note


def command_line(argv) -> str:
    """The command that made the table, with the PYTHONPATH and operator library it ran
    with when those were set (paths inside the repository relative to it)."""

    def shown(value):
        out = []
        for part in value.split(os.pathsep):
            path = pathlib.Path(part).resolve()
            inside = path == ROOT or ROOT in path.parents
            out.append(str(path.relative_to(ROOT)) if inside else "<outside the repository>")
        return os.pathsep.join(out)

    env = [
        f"{k}={shown(os.environ[k])}"
        for k in ("PYTHONPATH", "POLMLIP_OPS_LIBRARY")
        if os.environ.get(k)
    ]
    return " ".join([*env, "python benchmarks/inference_speed.py", *argv])


def work_lines(flops, mace_rows) -> list:
    parts = [
        f"{model} model at {n:,} atoms: {w / 1e9:.2f} GFLOP" for (model, n), w in flops.items()
    ]
    mace = {r["n"]: r["flops"] for r in mace_rows if r.get("flops")}
    text = (
        "**Work counted** (for *eff. GFLOP/s*): the floating-point operations of one energy + "
        "forces + stress call, forward and backward, counted once per box by "
        "`torch.utils.flop_counter.FlopCounterMode` on the e3nn path of the same model in eager "
        "mode (not scripted, float64): " + "; ".join(parts) + ". FlopCounterMode counts matrix "
        "products and convolutions only (e3nn's tensor products and linears are einsums, so "
        "matrix products); elementwise work, gathers and scatters and the FFTs of the long "
        "range are not counted. Every polmlip path is credited with this same work, so its "
        "effective GFLOP/s is that work over its time (the fused path does the same "
        "arithmetic in fewer, larger kernels)."
    )
    if mace:
        text += (
            " MACE is credited with its own call counted the same way: "
            + "; ".join(f"{n:,} atoms: {w / 1e9:.2f} GFLOP" for n, w in mace.items())
            + "."
        )
    return [text]


def section(args, meta, rows, flops, peaks, sizes, notes) -> str:
    info = meta["info"]
    lines = [
        f"Command: `{meta['command']}` (from the repository root; {meta['elapsed'] / 60:.1f} "
        f"min). Date: {meta['date']}. Code: {meta['code']}.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['mem']} RAM, torch "
        f"{info['torch']}, Python {info['python']}, polmlip operators: {info['ops']}. "
        "Everything at 1 thread (`torch.set_num_threads(1)`, `OMP_NUM_THREADS=1` in the "
        f"subprocesses). Load average {meta['load'][0]:.1f} at the start and "
        f"{meta['load'][1]:.1f} at the end (1-minute, including this job). Peak of the core: "
        f"{peaks['float32'] / 1e9:.1f} GFLOP/s float32, {peaks['float64'] / 1e9:.1f} GFLOP/s "
        f"float64 ({PEAK_N}×{PEAK_N} matmul, 1 thread, best of the measurements at the start "
        "and the end).",
        "",
        "**Systems.** Random rigid waters (`benchmarks/bench_systems.py::water_box`, seed "
        f"{BOX_SEED}, 0.1 atoms/Å³, periodic cubic cells): "
        + ", ".join(
            f"{n:,} atoms ({e:,} directed edges within 4.5 Å)" for n, e in meta["edges"].items()
        )
        + ".",
        "",
        "**Models.** " + "; ".join(model_text(m) for m in meta["models"]) + " (cutoff 4.5 Å, "
        "charges, dipoles, induced charges and dipoles, PME long range; weights seeded "
        f"{SEED}, untrained). Exported with `polmlip.export.io.export_model` (its defaults) "
        "in float64 and as a float32 copy (`model.float()`), loaded with `load_exported`"
        + (
            "; the default model also as the mixed-precision file `polmlip export` writes by "
            'default (`network_dtype="float32"`: float32 network, float64 positions, long '
            "range and sums; fast path only)."
            if any(r["dtype"] == MIXED for r in rows)
            else "."
        ),
        "",
        "**Paths.** *" + PATHS["fast"] + "*: the exported module as it is: fused convolution "
        "`polmlip::tp_conv`"
        + (
            " and the radial networks read from tables made at export (`polmlip::radial_spline`)"
            if meta["tables"]
            else ""
        )
        + ". *"
        + PATHS["e3nn"]
        + "*: the same file with `set_fast_path(False)`"
        + (" and `set_radial_table(False)`" if meta["tables"] else "")
        + ": e3nn's tensor product and the radial networks, the training path. *"
        + PATHS["baseline"]
        + "*: the same config and seed built and exported by the code of "
        f"commit {BASELINE} (a git worktree under `benchmarks/.cache`, PYTHONPATH on its "
        "`python/`, `POLMLIP_OPS_LIBRARY` on this build's operator library), timed the same "
        "way in a subprocess. *" + PATHS["mace"] + "*: `mace.modules.MACE` with hidden irreps "
        f"{MACE_MODEL['hidden_irreps']}, {MACE_MODEL['num_interactions']} interactions "
        f"({MACE_MODEL['interaction']}), r_max {MACE_MODEL['r_max']} Å, max_ell "
        f"{MACE_MODEL['max_ell']}, correlation {MACE_MODEL['correlation']}, "
        f"{MACE_MODEL['num_bessel']} Bessel functions, radial MLP {MACE_MODEL['radial_MLP']}, "
        f"2 elements, seeded, untrained ({MACE_PIN}, e3nn 0.4.4, in its own virtual "
        "environment); energy, forces and stress on the same box through its own "
        "neighbour list (`AtomicData.from_config`), called eagerly as its ASE calculator does "
        "(short range only: MACE has no long range, polmlip's time includes its PME sum and "
        "response).",
        "",
        "**Measurement.** One energy + forces + stress call as `PolMLIPCalculator.calculate` "
        "makes it (`engine_inputs`, `requested_outputs(True, True, False)`, under "
        "`torch.jit.optimized_execution(False)`); the graph / neighbour list is built once "
        f"and not timed. {WARMUP} warm-up calls, then up to {args_repeats(args)} timed calls "
        f"(fewer, at least {args_min_repeats(args)}, for cases slower than "
        f"{args_budget(args):g} s / {args_repeats(args)}); the table gives the minimum and "
        "the median. Ratios (*fast path faster by*: that row's time over the fast path's, "
        "same model, size and dtype) and GFLOP/s use the minima. *Other CPU*: cores used by "
        "other processes while the case was timed († over the whole MACE worker run). "
        "*ΔE/E vs e3nn*: relative energy difference to the e3nn path of the same file "
        "(a check that the paths compute the same model).",
        "",
        *work_lines(flops, [r for r in rows if r["path"] == "mace"]),
        "",
        *noise_line(rows),
    ]
    for model in meta["models"]:
        lines += [f"### {model_text(model)[0].upper()}{model_text(model)[1:]}", ""]
        lines += results_table(rows, model, flops, peaks) + [""]
    lines += [f"### Targets ({model_text('default')})", ""]
    lines += verdicts(rows, sizes, notes.get("mace", "")) + [""]
    extra = [v for k, v in notes.items() if v]
    if extra:
        lines += ["Notes: " + " ".join(extra), ""]
    return "\n".join(lines)


def args_repeats(args):
    return QUICK_REPEATS if args.quick else REPEATS


def args_min_repeats(args):
    return QUICK_MIN_REPEATS if args.quick else MIN_REPEATS


def args_budget(args):
    return QUICK_BUDGET_S if args.quick else CASE_BUDGET_S


# ---------------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Workers, caches and the MACE environment live under benchmarks/.cache.",
    )
    p.add_argument("--quick", action="store_true", help="1,536 atoms only, fewer repeats")
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    p.add_argument(
        "--setup-mace",
        action="store_true",
        help=f"(re)create the MACE environment ({TORCH_PIN}, then {MACE_PIN}) and exit",
    )
    p.add_argument("--no-baseline", action="store_true", help=f"skip commit {BASELINE}")
    p.add_argument("--no-mace", action="store_true", help="skip MACE")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "JOB"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.worker:
        kind, job = args.worker
        job = json.loads(pathlib.Path(job).read_text())
        rows = baseline_worker(job) if kind == "baseline" else mace_worker(job)
        print(json.dumps(rows))
        return 0
    if args.setup_mace:
        python, why = mace_python(setup=True)
        log(f"MACE environment: {python}" if python else f"MACE environment failed: {why}")
        return 0 if python else 1
    return run_benchmark(args, argv)


def run_benchmark(args, argv) -> int:
    from bench_systems import loadavg, machine_info
    from report import replace_section

    command = command_line(argv if argv is not None else sys.argv[1:])
    # the code measured in this process is the code imported now: note it before others
    # working in the same tree can change it
    code0, lib0 = code_state(), ops_fingerprint()
    t_start = time.perf_counter()
    load0 = loadavg()
    sizes = QUICK_SIZES if args.quick else SIZES
    repeats, min_reps, budget = args_repeats(args), args_min_repeats(args), args_budget(args)
    names = list(MODELS)
    notes = {}
    log("peak of the core (2048² matmul, 1 thread) ...")
    peaks = {d: matmul_peak(getattr(torch, d)) for d in DTYPES}
    job = dict(
        models=names, dtypes=list(DTYPES), repeats=repeats, budget=budget, min_repeats=min_reps
    )
    mace_py = None
    if args.no_mace:
        notes["mace"] = "MACE skipped (--no-mace)."
    else:
        mace_py, why = mace_python()
        if mace_py is None:
            notes["mace"] = f"MACE could not be installed: {why}"
            log(notes["mace"])
    tree = None
    if args.no_baseline:
        notes["baseline"] = "Baseline skipped (--no-baseline)."
    else:
        try:
            tree = baseline_tree()
        except (subprocess.CalledProcessError, OSError) as exc:
            notes["baseline"] = f"The baseline worktree could not be made: {exc}."
    rows, flops, edges = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        log("exporting the models with this code ...")
        files = export_models(tmp, names)
        if can_write_mixed():
            files.update(export_models(tmp, ["default"], [MIXED]))
        else:
            notes["mixed"] = "This code writes no mixed-precision files."
        tables = has_radial_tables(files["default", "float64"])
        for n in sizes:
            atoms = water_atoms(n)
            box = tmp / f"box{n}.npz"
            save_box(atoms, box)
            log(f"N = {n}: counting the work (e3nn path, eager) ...")
            for name in names:
                flops[name, n] = count_flops(name, atoms)
            for (name, dtype), path in files.items():
                for which, fast in (("fast", None), ("e3nn", False)):
                    if dtype == MIXED and which != "fast":
                        continue
                    res = time_engine(path, atoms, fast, repeats, budget, min_reps)
                    rows.append(dict(res, model=name, n=n, path=which, dtype=dtype))
                    edges[n] = res["edges"]
                    log(progress_line(rows[-1]))
            sub = dict(job, boxes={str(n): str(box)})
            if tree is not None:
                log(f"N = {n}: baseline {BASELINE} (subprocess) ...")
                env = worker_env(
                    PYTHONPATH=str(tree / "python"), POLMLIP_OPS_LIBRARY=str(ops_library())
                )
                sub["expect_src"] = str(tree / "python")
                try:
                    rows += run_worker("baseline", sub, sys.executable, env)
                except (RuntimeError, ValueError) as exc:
                    notes["baseline"] = f"Baseline: {exc}."
                    log(notes["baseline"])
            if mace_py is not None:
                log(f"N = {n}: MACE (subprocess, its own environment) ...")
                env = worker_env(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
                try:
                    rows += run_worker("mace", dict(sub, models=["default"]), mace_py, env)
                except (RuntimeError, ValueError) as exc:
                    notes["mace"] = f"MACE: {exc}."
                    log(notes["mace"])
    peaks = {d: max(peaks[d], matmul_peak(getattr(torch, d))) for d in DTYPES}
    order = {k: i for i, k in enumerate(PATHS)}
    dtypes = (*DTYPES, MIXED)
    rows.sort(
        key=lambda r: (names.index(r["model"]), r["n"], order[r["path"]], dtypes.index(r["dtype"]))
    )
    meta = dict(
        command=command,
        date=time.strftime("%Y-%m-%d %H:%M"),
        elapsed=time.perf_counter() - t_start,
        info=machine_info(),
        load=(load0, loadavg()),
        code=code0 + changes_during_run(code0, lib0),
        models=names,
        edges=edges,
        tables=tables,
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    raw = dict(meta, rows=rows, peaks=peaks, notes=notes)
    raw["flops"] = [[m, n, w] for (m, n), w in flops.items()]
    (CACHE / "inference_speed.json").write_text(json.dumps(raw, indent=1))
    text = section(args, meta, rows, flops, peaks, sizes, notes)
    print(f"\n## {TITLE}\n\n{text}")
    if not args.no_write:
        replace_section(DOC, TITLE, text)
        log(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
