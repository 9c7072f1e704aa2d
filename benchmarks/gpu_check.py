"""GPU check: the exported engine module on CUDA against CPU, and float32 GPU timings.

Run on a GPU node through ``bash benchmarks/gpu_check.sh`` (it installs the carried wheels,
builds the native operators and runs the parts below, each in its own process and timeout).

Parts (``--part``):

* ``compare``: the default model (``PolMLIP(ModelConfig.from_dict({"elements": ["H", "O"]}))``,
  seeded), exported in float64 with ``polmlip.export.io.export_model`` and loaded with
  ``load_exported`` on CPU and on ``--device``; water boxes of
  ``polmlip.qmdata.structures.water_box``, inputs of ``atoms_to_graph`` + ``engine_inputs`` with
  forces, stress and Born charges requested. Energy, forces, stress and Born charges must agree
  to a max-norm relative error max|x_dev − x_cpu| / max|x_cpu| ≤ 1e-8 for (a) the fused
  operator ``polmlip::tp_conv`` (fast path), (b) the e3nn path, (c) the Ewald split of the long
  range (coarse mesh + real-space pairs) and (d) frames with explicit periodic images (ghost
  atoms) through the halo operator (``polmlip.ops.halo_owners``), plain and Ewald-split, folded
  onto their owners and compared with the periodic frame on both devices. A direct check of
  the mesh operators ``polmlip::spread`` / ``gather`` comes first.
* ``openmm``: whether OpenMM's CUDA (then OpenCL) platform loads and runs a trivial System.
* ``timing``: the default model exported in float32, energy + forces per call at ~12k and
  ~100k atoms (warm-up calls, ``torch.cuda.synchronize`` around the timed calls), atom-steps
  per second and peak GPU memory (``torch.cuda.max_memory_allocated``).
* ``report``: the table (stdout) and the section "## GPU check" of ``--doc``; exit status 1
  when a comparison failed its tolerance, else 0.

Each part writes ``--results``/PART.json after every case, so a part that is killed by its
timeout still reports what it finished. Self-test without a GPU (small systems, CPU vs CPU):

    python benchmarks/gpu_check.py --device cpu --small --results /tmp/r --doc /tmp/b.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = pathlib.Path(__file__).resolve().parent
T0 = float(os.environ.get("GPU_CHECK_T0", time.time()))
TOL = 1e-8  # max-norm relative error, float64
ELEMENTS = ["H", "O"]
FIELD = (0.03, 0.0, 0.02)  # V/Å, exercises the field terms of the Born charges
SEED = 0
TITLE = "GPU check"
COMMAND = "bash benchmarks/gpu_check.sh"
PARTS = ("compare", "openmm", "timing")
CASES = {  # the comparisons of the compare part, in order (the report lists any not reached)
    "mesh": "mesh operators",
    "a": "(a) fast path",
    "b": "(b) e3nn path",
    "c": "(c) Ewald split",
    "d": "(d) halo, ghost atoms",
    "d_split": "(d) halo + Ewald split",
}


def log(msg: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[gpu_check {stamp} +{time.time() - T0:4.0f}s] {msg}", flush=True)


def seconds_left() -> float:
    """Seconds until this part's deadline (GPU_CHECK_DEADLINE, epoch seconds); inf if unset."""
    deadline = os.environ.get("GPU_CHECK_DEADLINE")
    return float(deadline) - time.time() if deadline else float("inf")


class Record:
    """One part's results, rewritten to ``DIR/PART.json`` after every change."""

    def __init__(self, folder: pathlib.Path, part: str) -> None:
        self.path = folder / f"{part}.json"
        self.data: dict = {"part": part}
        folder.mkdir(parents=True, exist_ok=True)
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)

    def set(self, key: str, value) -> None:
        self.data[key] = value
        self.save()

    def append(self, key: str, value: dict) -> None:
        self.data.setdefault(key, []).append(value)
        self.save()


def short_error(exc: BaseException) -> str:
    lines = [s for s in str(exc).strip().splitlines() if s.strip()]
    text = lines[0] if lines else ""
    # TorchScript errors put the reason on the last line
    if len(lines) > 1 and ("Traceback" in text or "The following operation failed" in str(exc)):
        text = lines[-1]
    return f"{type(exc).__name__}: {text}"[:300]


# ---------------------------------------------------------------------------- environment


def preload_ops_library() -> str | None:
    """Load POLMLIP_OPS_LIBRARY before polmlip does (which would silently fall back to the
    PyTorch reference), so that a load failure is reported; returns the error or None."""
    import torch

    path = os.environ.get("POLMLIP_OPS_LIBRARY")
    if not path or os.environ.get("POLMLIP_DISABLE_OPS", "") not in ("", "0"):
        return None
    try:
        torch.ops.load_library(path)
    except (OSError, RuntimeError) as exc:
        return short_error(exc)
    return None


def environment(device: str, lib_error: str | None) -> dict:
    import e3nn
    import numpy
    import torch

    from polmlip import ops

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "e3nn": e3nn.__version__,
        "numpy": numpy.__version__,
        "device": device,
        "cpu": cpu_model(),
        "cpu_threads": torch.get_num_threads(),
        "ops_backend": ops.backend(),
        "ops_library": os.environ.get("POLMLIP_OPS_LIBRARY", "(python/polmlip/lib)"),
        "ops_disabled": os.environ.get("POLMLIP_DISABLE_OPS", ""),
        "ops_load_error": lib_error,
    }
    for name in ("ase", "vesin"):
        try:
            info[name] = __import__(name).__version__
        except Exception as exc:  # reported, not raised
            info[name] = f"missing ({short_error(exc)})"
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            capability=f"{props.major}.{props.minor}",
        )
    return info


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# ---------------------------------------------------------------------------- model and systems


def default_model():
    """The default H/O model, seeded (float32 parameters)."""
    import torch

    from polmlip.model import ModelConfig, PolMLIP

    torch.manual_seed(SEED)
    return PolMLIP(ModelConfig.from_dict({"elements": list(ELEMENTS)}))


def export_and_load(model, folder: str, name: str, devices):
    """Export ``model`` to folder/name and load it on each of ``devices``."""
    from polmlip.export.io import export_model, load_exported

    path = os.path.join(folder, name)
    meta = export_model(model, path)
    return meta, [load_exported(path, device=d)[0] for d in devices]


def water(n_molecules: int, seed: int = 1):
    """A periodic box of rigid waters at 1 g/cm³ (no overlaps), as ASE Atoms."""
    from polmlip.qmdata.structures import water_box

    return water_box(n_molecules, seed=seed)


def frame_inputs(atoms, cutoff: float, dtype, field=(0.0, 0.0, 0.0)):
    import torch

    from polmlip.data.graph import atoms_to_graph
    from polmlip.export.adapter import engine_inputs

    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    graph = atoms_to_graph(atoms, ELEMENTS, cutoff, external_field=field, dtype=dtype)
    return graph, engine_inputs(graph)


def with_images(atoms, reach: float, cutoff: float):
    """Local atoms (wrapped) followed by their periodic images within ``reach`` of the cell,
    the owner (local index) of every row, and the edges within ``cutoff`` that have a local
    receiver; the same construction as tests/model/test_ghost_atoms.py."""
    import numpy as np
    import vesin

    pos = atoms.get_positions(wrap=True)
    cell = atoms.get_cell().array
    inv = np.linalg.inv(cell)
    n = len(pos)
    margin = reach * np.linalg.norm(inv, axis=0)  # reach in fractional units, per axis
    frac = pos @ inv
    rows, owners = [pos], [np.arange(n)]
    for shift in itertools.product(*(range(-int(np.ceil(m)), int(np.ceil(m)) + 1) for m in margin)):
        if not any(shift):
            continue
        f = frac + np.array(shift)
        keep = np.all((f > -margin) & (f < 1 + margin), axis=1)
        rows.append(pos[keep] + np.array(shift) @ cell)
        owners.append(np.nonzero(keep)[0])
    all_pos = np.concatenate(rows)
    owner = np.concatenate(owners).astype(np.int64)
    nl = vesin.NeighborList(cutoff=cutoff, full_list=True)
    i, j = nl.compute(points=all_pos, box=np.zeros((3, 3)), periodic=False, quantities="ij")
    local = i < n
    return all_pos, owner, np.stack([i[local], j[local]]).astype(np.int64)


def ghost_inputs(atoms, graph, inputs, reach: float, cutoff: float):
    """Engine inputs with explicit ghost images (zero edge shifts, ``num_local`` = N)."""
    import torch

    from polmlip import keys

    pos, owner, edges = with_images(atoms, reach, cutoff)
    owner_t = torch.from_numpy(owner)
    out = dict(inputs)
    out.update(
        {
            keys.SPECIES: graph[keys.SPECIES][owner_t],
            keys.POSITIONS: torch.tensor(pos, dtype=inputs[keys.POSITIONS].dtype),
            keys.EDGE_INDEX: torch.from_numpy(edges),
            keys.EDGE_SHIFT: torch.zeros(edges.shape[1], 3, dtype=torch.long),
            keys.NUM_LOCAL: torch.tensor(len(atoms)),
        }
    )
    return out, owner_t


def to_device(inputs: dict, device: str) -> dict:
    return {k: v.to(device) for k, v in inputs.items()}


def call(engine, inputs: dict, requested):
    """One engine call as the engines make it (graph executor optimization off)."""
    import torch

    with torch.jit.optimized_execution(False):
        return engine(inputs, list(requested))


def fold(values, owner, n_local: int):
    """Sum per-graph-atom rows onto their owners (ghost rows onto local atoms)."""
    import torch

    values = values.detach().to("cpu", torch.float64)
    out = torch.zeros((n_local, *values.shape[1:]), dtype=torch.float64)
    out.index_add_(0, owner, values)
    return out


# ---------------------------------------------------------------------------- comparisons


def rel_err(a, b) -> float:
    """max|a − b| / max|b| (absolute where b is all zero); inf for a shape mismatch, nan
    propagates (and fails every tolerance)."""
    import torch

    a = a.detach().to("cpu", torch.float64)
    b = b.detach().to("cpu", torch.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.numel() == 0:
        return 0.0
    diff = float((a - b).abs().max())
    scale = float(b.abs().max())
    return diff / scale if scale > 0 else diff


def compare_outputs(dut: dict, ref: dict, folded: dict | None = None) -> dict:
    """Errors of the compared quantities and the largest over the other common outputs."""
    from polmlip import keys

    folded = folded or {}
    names = {"energy": keys.ENERGY, "forces": keys.FORCES, "stress": keys.STRESS, "bec": keys.BEC}
    errors = {}
    for label, key in names.items():
        if key not in ref or (key not in dut and key not in folded):
            errors[label] = None
            continue
        errors[label] = rel_err(folded.get(key, dut.get(key)), ref[key])
    others = {}
    for key in ref:
        if key in names.values() or key not in dut or key in folded:
            continue
        if tuple(dut[key].shape) == tuple(ref[key].shape):
            others[key] = rel_err(dut[key], ref[key])
    worst = max(others, key=lambda k: others[k], default=None)
    missing = [label for label, err in errors.items() if err is None]
    return {
        "errors": errors,
        "other": None if worst is None else others[worst],
        "other_key": worst,
        "missing": missing,
    }


def verdict(result: dict) -> str:
    errs = [e for e in result["errors"].values() if e is not None]
    if result["missing"]:
        return "FAIL"
    return "pass" if errs and all(e <= TOL for e in errs) else "FAIL"


def mesh_operator_case(device: str, small: bool) -> dict:
    """polmlip::spread and gather (nderiv 0, 1, 2) on ``device`` against CPU, float64."""
    import torch

    g = torch.Generator().manual_seed(3)
    n = 60 if small else 2000
    shape = [12, 14, 10] if small else [40, 36, 44]
    u = torch.rand(n, 3, generator=g, dtype=torch.float64) * torch.tensor(shape)
    errors = {}
    for comps in (1, 4, 10):
        coeff = torch.randn(n, comps, generator=g, dtype=torch.float64)
        ref = torch.ops.polmlip.spread(u, coeff, shape, 7)
        out = torch.ops.polmlip.spread(u.to(device), coeff.to(device), shape, 7)
        errors[f"spread C={comps}"] = rel_err(out, ref)
    mesh = torch.randn(*shape, generator=g, dtype=torch.float64)
    for nd in (0, 1, 2):
        ref = torch.ops.polmlip.gather(mesh, u, 7, nd)
        out = torch.ops.polmlip.gather(mesh.to(device), u.to(device), 7, nd)
        errors[f"gather nderiv={nd}"] = rel_err(out, ref)
    worst = max(errors, key=lambda k: errors[k])
    return {"detail": errors, "worst": errors[worst], "worst_key": worst}


def part_compare(args, rec: Record) -> None:
    import torch

    lib_error = preload_ops_library()
    from polmlip import keys
    from polmlip.export.adapter import requested_outputs
    from polmlip.ops import halo_owners

    device = args.device
    rec.set("env", environment(device, lib_error))
    log(f"operators: {rec.data['env']['ops_backend']}; device {device}")
    rec.set("tolerance", TOL)

    def guarded(name: str, what: str, fn, min_left: float = 10.0) -> None:
        entry = {"case": name, "what": what, "status": "skipped"}
        if seconds_left() < min_left:
            entry["message"] = "time budget of the part spent"
            rec.append("cases", entry)
            log(f"{name}: skipped (time)")
            return
        t = time.time()
        try:
            entry.update(fn())
            if "status" not in entry or entry["status"] == "skipped":
                entry["status"] = verdict(entry)
        except Exception as exc:  # one case must not stop the others
            entry["status"] = "error"
            entry["message"] = short_error(exc)
            traceback.print_exc()
        entry["seconds"] = round(time.time() - t, 1)
        rec.append("cases", entry)
        errs = entry.get("errors") or {}
        shown = ", ".join(f"{k} {v:.1e}" for k, v in errs.items() if v is not None)
        log(f"{name}: {entry['status']} {shown} {entry.get('message', '')}".rstrip())

    def mesh_ops() -> dict:
        r = mesh_operator_case(device, args.small)
        ok = r["worst"] <= TOL
        return {
            "atoms": None,
            "errors": {},
            "detail": r["detail"],
            "other": r["worst"],
            "other_key": r["worst_key"],
            "missing": [],
            "status": "pass" if ok else "FAIL",
        }

    guarded(CASES["mesh"], "polmlip::spread (C=1,4,10), gather (nderiv 0-2)", mesh_ops)

    log("exporting the default model in float64")
    with tempfile.TemporaryDirectory() as tmp:
        model = default_model().double()
        try:
            meta, (cpu_engine, dev_engine) = export_and_load(model, tmp, "f64.pt", ["cpu", device])
        except Exception as exc:
            rec.append("cases", {"case": "export", "status": "error", "message": short_error(exc)})
            traceback.print_exc()
            return
        cutoff = float(meta["cutoff"])
        cfg = meta["config"]
        rec.set("model", {k: cfg[k] for k in ("cutoff", "channels", "lmax", "num_layers")})
        requested = requested_outputs(True, True, True)
        engines = (cpu_engine, dev_engine)

        def settings(fast: bool, split: bool) -> None:
            for e in engines:
                e.set_fast_path(fast)
                e.set_ewald_split(split)

        big = water(8 if args.small else 64)
        graph, inputs = frame_inputs(big, cutoff, torch.float64, FIELD)
        n_big = len(big)

        def periodic(fast: bool, split: bool):
            def run() -> dict:
                settings(fast, split)
                try:
                    ref = call(cpu_engine, inputs, requested)
                    out = call(dev_engine, to_device(inputs, device), requested)
                finally:
                    settings(True, False)
                return {"atoms": n_big, **compare_outputs(out, ref)}

            return run

        guarded(CASES["a"], "fused polmlip::tp_conv, PME", periodic(True, False))
        guarded(CASES["b"], "e3nn tensor products, PME", periodic(False, False))
        guarded(CASES["c"], "coarse mesh + real-space pairs, fast path", periodic(True, True))

        small = water(8, seed=2)
        sgraph, sinputs = frame_inputs(small, cutoff, torch.float64, FIELD)
        n_small = len(small)

        def ghosts(split: bool):
            def run() -> dict:
                reach = (max(cutoff, float(cfg["real_space_cutoff"])) if split else cutoff) + 0.5
                ginputs, owner = ghost_inputs(small, sgraph, sinputs, reach, cutoff)
                settings(True, split)
                try:
                    ref_cpu = call(cpu_engine, sinputs, requested)
                    ref_dev = call(dev_engine, to_device(sinputs, device), requested)
                    with halo_owners(owner):
                        out = call(dev_engine, to_device(ginputs, device), requested)
                finally:
                    settings(True, False)
                folded = {k: fold(out[k], owner, n_small) for k in (keys.FORCES, keys.BEC)}
                vs_dev = compare_outputs(out, ref_dev, folded)
                vs_cpu = compare_outputs(out, ref_cpu, folded)
                # the tolerance applies to both; the table shows the larger error of each
                merged = {
                    k: max(
                        (e for e in (vs_dev["errors"][k], vs_cpu["errors"][k]) if e is not None),
                        default=None,
                    )
                    for k in vs_cpu["errors"]
                }
                other = [r["other"] for r in (vs_dev, vs_cpu) if r["other"] is not None]
                return {
                    "atoms": n_small,
                    "graph_atoms": int(owner.numel()),
                    "errors": merged,
                    "errors_vs_device_periodic": vs_dev["errors"],
                    "errors_vs_cpu_periodic": vs_cpu["errors"],
                    "other": max(other) if other else None,
                    "other_key": vs_cpu["other_key"],
                    "missing": vs_dev["missing"] + vs_cpu["missing"],
                }

            return run

        guarded(
            CASES["d"],
            "explicit periodic images + polmlip::halo vs periodic frame",
            ghosts(False),
        )
        guarded(
            CASES["d_split"],
            "ghosts to the real-space cutoff, multipoles through the halo",
            ghosts(True),
        )


# ---------------------------------------------------------------------------- OpenMM


def part_openmm(args, rec: Record) -> None:
    try:
        import openmm
        import openmm.unit as unit
    except Exception as exc:
        rec.set("available", False)
        rec.set("message", short_error(exc))
        log(f"OpenMM not importable: {short_error(exc)}")
        return
    rec.set("available", True)
    rec.set("version", openmm.__version__)
    names = [
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    ]
    rec.set("platforms", names)
    rec.set("plugin_failures", [str(f)[:300] for f in openmm.Platform.getPluginLoadFailures()])
    log(f"OpenMM {openmm.__version__}, platforms {names}")
    for name in ("CUDA", "OpenCL"):
        entry = {"platform": name}
        try:
            plat = openmm.Platform.getPlatformByName(name)
            system = openmm.System()
            system.addParticle(1.0)
            system.addParticle(1.0)
            bond = openmm.HarmonicBondForce()
            bond.addBond(0, 1, 0.1, 1000.0)  # nm, kJ/mol/nm²
            system.addForce(bond)
            integrator = openmm.VerletIntegrator(0.001)
            context = openmm.Context(system, integrator, plat)
            context.setPositions([openmm.Vec3(0, 0, 0), openmm.Vec3(0.2, 0, 0)])
            energy = context.getState(getEnergy=True).getPotentialEnergy()
            integrator.step(10)
            entry["energy_kj_mol"] = energy.value_in_unit(unit.kilojoule_per_mole)
            entry["expected_kj_mol"] = 5.0  # ½ k (r − r0)²
            ok = abs(entry["energy_kj_mol"] - 5.0) < 1e-4
            try:
                entry["device"] = plat.getPropertyValue(context, "DeviceName")
            except Exception:  # not every platform has the property
                entry["device"] = ""
            entry["status"] = "loads and runs" if ok else "loads, wrong energy"
            del context, integrator
        except Exception as exc:
            entry["status"] = "does not load"
            entry["message"] = short_error(exc)
        rec.append("tries", entry)
        log(f"OpenMM {name}: {entry['status']} {entry.get('message', entry.get('device', ''))}")
        if entry["status"] == "loads and runs":
            break


# ---------------------------------------------------------------------------- timings


def part_timing(args, rec: Record) -> None:
    import torch

    lib_error = preload_ops_library()
    from polmlip import keys
    from polmlip.export.adapter import requested_outputs

    device = args.device
    cuda = device.startswith("cuda")
    rec.set("env", environment(device, lib_error))
    sizes = [("~12k atoms", 4096), ("~100k atoms", 32768)]
    if args.small:
        sizes = [("small", 27), ("larger", 64)]
    with tempfile.TemporaryDirectory() as tmp:
        log("exporting the default model in float32")
        meta, (engine,) = export_and_load(default_model().float(), tmp, "f32.pt", [device])
        cutoff = float(meta["cutoff"])
        requested = requested_outputs(True, False, False)

        def sync() -> None:
            if cuda:
                torch.cuda.synchronize()

        for label, n_mol in sizes:
            entry = {"system": label, "molecules": n_mol, "dtype": "float32", "path": "fast"}
            try:
                if seconds_left() < 25:
                    raise TimeoutError("time budget of the part spent")
                t = time.time()
                atoms = water(n_mol, seed=4)
                _, inputs = frame_inputs(atoms, cutoff, torch.float32)
                entry.update(
                    atoms=len(atoms),
                    edges=int(inputs[keys.EDGE_INDEX].shape[1]),
                    graph_s=round(time.time() - t, 2),
                )
                log(
                    f"{label}: {len(atoms)} atoms, {entry['edges']} edges "
                    f"(graph {entry['graph_s']} s)"
                )
                inputs = to_device(inputs, device)
                if cuda:
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                t = time.time()
                for _ in range(2):  # warm-up: CUDA kernels, cuFFT plans, allocator
                    out = call(engine, inputs, requested)
                    sync()
                entry["warmup_s"] = round(time.time() - t, 2)
                times = []
                window = min(5.0, max(1.0, seconds_left() - 20.0))
                start = time.time()
                while len(times) < 20 and (len(times) < 3 or time.time() - start < window):
                    sync()
                    t = time.perf_counter()
                    out = call(engine, inputs, requested)
                    sync()
                    times.append(time.perf_counter() - t)
                    if seconds_left() < 15:
                        break
                med = statistics.median(times)
                entry.update(
                    calls=len(times),
                    t_median_s=med,
                    t_min_s=min(times),
                    atom_steps_per_s=len(atoms) / med,
                    energy=float(out[keys.ENERGY]),
                    finite=bool(torch.isfinite(out[keys.FORCES]).all()),
                    status="ok",
                )
                if cuda:
                    entry["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
                del out, inputs
                log(
                    f"{label}: {1e3 * med:.1f} ms/call, {len(atoms) / med:.3g} atom-steps/s, "
                    f"peak {entry.get('peak_mem_gib', float('nan')):.2f} GiB"
                )
            except Exception as exc:  # OOM at 100k must not hide the 12k row
                entry["status"] = "error"
                entry["message"] = short_error(exc)
                if not isinstance(exc, TimeoutError):
                    traceback.print_exc()
                log(f"{label}: {entry['message']}")
                if cuda:
                    entry["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
                    torch.cuda.empty_cache()
            rec.append("runs", entry)


# ---------------------------------------------------------------------------- report


def load_results(folder: pathlib.Path) -> dict:
    res = {}
    for part in PARTS:
        path = folder / f"{part}.json"
        if path.exists():
            try:
                res[part] = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                res[part] = {"broken": str(exc)}
    status = {}
    path = folder / "status.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                status[k.strip()] = v.strip()
    res["status"] = status
    return res


def fmt_err(e) -> str:
    if e is None:
        return "–"
    mark = "" if e <= TOL else " ✗"
    return f"{e:.1e}{mark}"


def part_rc(status: dict, part: str, res: dict) -> str:
    """A note for the heading of a part that crashed, timed out or failed."""
    crash = res.get(part, {}).get("crash")
    rc = status.get(f"{part}_rc")
    if crash:
        return f" (failed: {crash})"
    if rc is None or rc == "0":
        return ""
    return " (timed out)" if rc in ("124", "137") else f" (exit {rc})"


def report_lines(res: dict) -> tuple[list, bool]:
    """Markdown lines of the section body and whether every comparison passed."""
    status = res["status"]
    comp = res.get("compare", {})
    env = comp.get("env") or res.get("timing", {}).get("env") or {}
    elapsed = ""
    lines = []
    date = status.get("started", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    if "GPU_CHECK_T0" in os.environ:
        elapsed = f"; {(time.time() - T0) / 60:.1f} min"
    lines.append(f"Command: `{COMMAND}` (from the repository root{elapsed}). Date: {date}.")
    lines.append("")
    gpu = status.get("gpu") or env.get("gpu", "?")
    lines.append(
        f"Device: {gpu} (compute capability {env.get('capability', '?')}, "
        f"{env.get('gpu_memory_gib', '?')} GiB); host CPU {env.get('cpu', '?')} "
        f"({env.get('cpu_threads', '?')} torch threads). torch {env.get('torch', '?')} "
        f"(CUDA {env.get('torch_cuda', '?')}), e3nn {env.get('e3nn', '?')}, ASE "
        f"{env.get('ase', '?')}, vesin {env.get('vesin', '?')}, Python {env.get('python', '?')}."
    )
    ops_line = f"Native operators: {status.get('ops', env.get('ops_backend', '?'))}"
    if status.get("build_s"):
        ops_line += (
            f", libpolmlip_ops built on the node with CMake in {status['build_s']} s "
            f"(nvcc {status.get('nvcc', '?').replace('release ', '')}, sm_90; CUDA mesh "
            f"kernels: {status.get('cuda_kernels', '?')}; cmake rc {status.get('cmake_rc', '?')}, "
            f"build rc {status.get('build_rc', '–')})"
        )
    ops_line += f"; backend loaded in the check: {env.get('ops_backend', '?')}"
    if env.get("ops_load_error"):
        ops_line += f" (loading POLMLIP_OPS_LIBRARY failed: {env['ops_load_error']})"
    lines += ["", ops_line + "."]
    wheels = [status[k] for k in ("wheels_core", "wheels_omm") if k in status]
    if wheels:
        lines += ["", "Carried wheels: " + "; ".join(wheels) + "."]
    if status.get("imports"):
        lines += [
            "",
            "Imports of polmlip.export.io, polmlip.model, polmlip.data.graph, "
            f"polmlip.qmdata.structures, polmlip.export.adapter: {status['imports']}.",
        ]

    lines += [
        "",
        f"### CUDA against CPU (float64){part_rc(status, 'compare', res)}",
        "",
        'The default H/O model (`PolMLIP(ModelConfig.from_dict({"elements": ["H", "O"]}))`, '
        f'seed {SEED}) exported in float64 and loaded twice (`load_exported(path, device="cpu")` '
        'and `device="cuda"`), called like the engines call it (graph executor optimization '
        f"off) with forces, stress and Born charges requested, applied field {FIELD} V/Å. "
        "Water boxes at 1 g/cm³. Error: max|x_cuda − x_cpu| / max|x_cpu| per quantity; "
        f"tolerance {TOL:g} (✗ above it). *Other*: the largest error over the remaining common "
        "outputs (charges, dipoles, potential, field, polarization, …). Ghost-atom rows: local "
        "atoms plus explicit periodic images, edges from local receivers, the ghosts' features "
        "through `polmlip::halo` (`polmlip.ops.halo_owners`); forces and Born charges folded "
        "onto the owners and compared with the periodic frame on CUDA and on CPU (the larger "
        "error shown).",
        "",
        "| case | what | atoms | energy | forces | stress | Born charges | other | result | s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    all_ok = True
    cases = comp.get("cases", [])
    if not cases:
        lines.append("| – | compare part produced no result | | | | | | | error | |")
    done = {c.get("case") for c in cases}
    cases = cases + [
        {"case": name, "status": "not reached", "message": "the part ended before it"}
        for name in CASES.values()
        if name not in done and comp
    ]
    for c in cases:
        st = c.get("status", "?")
        if st == "FAIL":
            all_ok = False
        errs = c.get("errors") or {}
        atoms = c.get("atoms")
        if c.get("graph_atoms"):
            atoms = f"{atoms} (+{c['graph_atoms'] - atoms} ghosts)"
        other = fmt_err(c.get("other"))
        if c.get("other_key") and c.get("other") is not None:
            other += f" ({c['other_key']})"
        result = st if not c.get("message") else f"{st}: {c['message']}"
        lines.append(
            f"| {c.get('case', '?')} | {c.get('what', '')} | {atoms if atoms else '–'} "
            f"| {fmt_err(errs.get('energy'))} | {fmt_err(errs.get('forces'))} "
            f"| {fmt_err(errs.get('stress'))} | {fmt_err(errs.get('bec'))} | {other} "
            f"| {result} | {c.get('seconds', '')} |"
        )

    tim = res.get("timing", {})
    lines += [
        "",
        f"### Timings on the GPU (float32, energy + forces){part_rc(status, 'timing', res)}",
        "",
        "The same model exported in float32 (fused fast path, PME), one engine call per step "
        "with forces requested, on water boxes at 1 g/cm³ (graph built on the CPU, not timed). "
        "Two warm-up calls, then at least 3 timed calls (`torch.cuda.synchronize()` around "
        "each); median shown. Peak memory: `torch.cuda.max_memory_allocated()` over the "
        "warm-up and timed calls.",
        "",
        "| system | atoms | edges | ms / call (median) | min | calls | atom-steps / s "
        "| peak GPU memory | result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    runs = tim.get("runs", [])
    if not runs:
        lines.append("| – | | | | | | | | timing part produced no result |")
    for r in runs:
        ok = r.get("status") == "ok"
        mem = f"{r['peak_mem_gib']:.2f} GiB" if r.get("peak_mem_gib") is not None else "–"
        lines.append(
            f"| {r.get('system')} | {r.get('atoms', '–')} | {r.get('edges', '–')} "
            f"| {1e3 * r['t_median_s']:.1f} | {1e3 * r['t_min_s']:.1f} | {r['calls']} "
            f"| {r['atom_steps_per_s']:.3g} | {mem} | ok |"
            if ok
            else f"| {r.get('system')} | {r.get('atoms', '–')} | {r.get('edges', '–')} "
            f"| – | – | – | – | {mem} | {r.get('status')}: {r.get('message', '')} |"
        )

    omm = res.get("openmm", {})
    lines += ["", f"### OpenMM GPU platforms{part_rc(status, 'openmm', res)}", ""]
    if not omm:
        lines.append("OpenMM part produced no result.")
    elif not omm.get("available"):
        lines.append(f"OpenMM not importable on the node: {omm.get('message', '?')}.")
    else:
        lines.append(
            f"OpenMM {omm.get('version')} (carried wheel; polmlip's OpenMM plugin is not built "
            f"on the node): platforms {', '.join(omm.get('platforms', []))}. A two-particle "
            "harmonic bond (5 kJ/mol expected) on each GPU platform, CUDA first:"
        )
        lines.append("")
        for t in omm.get("tries", []):
            detail = t.get("message") or (
                f"energy {t.get('energy_kj_mol', float('nan')):.6f} kJ/mol "
                f"on {t.get('device') or '?'}"
            )
            lines.append(f"- {t['platform']}: {t['status']} ({detail})")
        fails = sorted(omm.get("plugin_failures") or [], key=lambda f: "CUDA" not in f)
        if fails:
            lines += ["", "Plugin load failures: " + "; ".join(f"`{f}`" for f in fails[:4])]
    return lines, all_ok


def scrub(text: str) -> str:
    """Absolute file paths (the node's, in error messages) shortened to their file name."""
    return re.sub(r"(?<![\w.~/])/(?:[\w.+@-]+/)+([\w.+@-]+)", r"\1", text)


def part_report(args) -> int:
    from report import replace_section

    res = load_results(args.results)
    lines, all_ok = report_lines(res)
    body = scrub("\n".join(lines) + "\n")
    print("\n## " + TITLE + "\n\n" + body, flush=True)
    if args.section_file:
        pathlib.Path(args.section_file).write_text(f"## {TITLE}\n\n{body}")
    if args.doc:
        replace_section(pathlib.Path(args.doc), TITLE, body)
        log(f"section '## {TITLE}' written to {args.doc}")
    cases = {c.get("case"): c.get("status") for c in res.get("compare", {}).get("cases", [])}
    passed = [name for name in CASES.values() if cases.get(name) == "pass"]
    failed = [name for name, st in cases.items() if st == "FAIL"]
    other = [f"{name} ({cases.get(name, 'not reached')})" for name in CASES.values()]
    other = [o for o, name in zip(other, CASES.values()) if name not in passed + failed]
    log(f"{len(passed)} of {len(CASES)} comparisons within tolerance {TOL:g}")
    if failed:
        log(f"FAILED tolerance: {', '.join(failed)}")
    if other:
        log(f"not compared (see the table): {', '.join(other)}")
    return 0 if all_ok else 1


# ---------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=(*PARTS, "report", "all"), default="all")
    ap.add_argument("--results", type=pathlib.Path, default=pathlib.Path("build-gpu/results"))
    ap.add_argument("--doc", help="markdown file whose '## GPU check' section the report writes")
    ap.add_argument("--section-file", help="also write the section alone to this file")
    ap.add_argument("--device", default="cuda", help=argparse.SUPPRESS)  # "cpu": self-test
    ap.add_argument("--small", action="store_true", help=argparse.SUPPRESS)  # self-test sizes
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    if args.part == "report":
        return part_report(args)
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("no CUDA GPU here (torch.cuda.is_available() is False): GPU check skipped")
            return 0
    parts = PARTS if args.part == "all" else (args.part,)
    for part in parts:
        log(f"part {part}")
        if part == "openmm" and args.part == "all":
            # in its own process, as gpu_check.sh runs it: a crashing GPU plugin must not end
            # the other parts
            rc = subprocess.call(
                [
                    sys.executable,
                    __file__,
                    "--part",
                    "openmm",
                    "--results",
                    str(args.results),
                    "--device",
                    args.device,
                ],
                timeout=120,
            )
            if rc:
                log(f"openmm part ended with rc {rc}")
            continue
        rec = Record(args.results, part)
        try:
            {"compare": part_compare, "openmm": part_openmm, "timing": part_timing}[part](args, rec)
        except Exception as exc:  # an import or setup failure: reported by the report part
            rec.set("crash", short_error(exc))
            traceback.print_exc()
            log(f"part {part} failed: {short_error(exc)}")
    if args.part == "all":
        return part_report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
