"""MD throughput of polmlip in LAMMPS and OpenMM (writes docs/benchmarks.md).

Measures, with one small model (H/O, 8 channels, lmax 1, 2 layers, 4 Å cutoff; charges +
induced dipoles, PME at 1e-5) and the same model without long range (ladder "SR"):

1. 1,536-atom water: LAMMPS atom-steps/s with long range on and off, and the share of the
   step spent in long range + response (target ≤ 25 %);
2. the same box in OpenMM (CPU platform, PolMLIPForce) against LAMMPS: ns/day;
3. LAMMPS time per step from 192 to 24,576 atoms: log–log slope (target ≤ 1.15) and the peak
   memory (max RSS) of the 24k run;
4. 2 MPI ranks against 1 at 6,144 atoms (target ≥ 1.6×).

With ``--model default``: the same tables for the model users get by default, which is also
the SPICE recipe's size (16 channels, lmax 2, 2 layers, 4.5 Å; charges, dipoles, induced
charges and dipoles; off = the same size, ladder "SR"), exported as ``polmlip export`` writes
it (float32 network, float64 geometry and long range), with the ASE calculator beside LAMMPS
and OpenMM, from 1,536 to 12,288 atoms, 2 ranks at 6,144; its own section of
docs/benchmarks.md. The untrained default model's forces make atoms overlap within a few
0.25 fs steps, so these runs keep the atoms in place (time step 0): every step still makes the
full force call.

Run:  python benchmarks/md_throughput.py            (full, ~10 min on 2 cores)
      python benchmarks/md_throughput.py --model default   (~8 min)
      python benchmarks/md_throughput.py --quick --no-write
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import ase.io
import numpy as np
import torch

from polmlip.export import export_model
from polmlip.model import ModelConfig, PolMLIP
from polmlip.qmdata.structures import water_box

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from report import replace_section  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
DT_FS = 0.25
MODEL = dict(
    elements=["H", "O"], channels=8, lmax=1, num_layers=2, cutoff=4.0, kspace_accuracy=1e-5
)
#: the model ``polmlip train`` builds unless told otherwise (and the SPICE recipe's size),
#: exported as ``polmlip export`` writes it
DEFAULT_MODEL = dict(elements=["H", "O"])
DEFAULT_EXPORT = dict(network_dtype="float32")
SECTIONS = {
    "small": "MD throughput (LAMMPS and OpenMM)",
    "default": "MD throughput at the default model size (LAMMPS, OpenMM, ASE)",
}


def make_models(folder: pathlib.Path, which: str = "small") -> dict:
    """The benchmark model with long range and without (ladder SR): ``small`` (charges +
    induced dipoles) or ``default`` (the default heads)."""
    out = {}
    for name in ("on", "off"):
        torch.manual_seed(0)
        if which == "small":
            ladder = "q" if name == "on" else "SR"
            cfg = dict(MODEL, ladder=ladder, induced_dipoles=ladder != "SR")
        else:
            cfg = dict(DEFAULT_MODEL, **({} if name == "on" else {"ladder": "SR"}))
        path = folder / f"model_lr_{name}.pt"
        export_model(
            PolMLIP(ModelConfig.from_dict(cfg)).double(),
            path,
            **(DEFAULT_EXPORT if which == "default" else {}),
        )
        out[name] = path
    return out


def write_nve_inputs(
    atoms, model, workdir: pathlib.Path, steps: int, pair_extra: str = "", dt_fs: float = DT_FS
) -> None:
    """data.lmp and in.bench of a water NVE run: 2 warm-up steps, then ``steps``
    (``pair_extra``: more pair_style keywords)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ase.io.write(
        workdir / "data.lmp", atoms, format="lammps-data", specorder=["H", "O"], masses=True
    )
    (workdir / "in.bench").write_text(f"""units metal
atom_style atomic
boundary p p p
read_data data.lmp
pair_style polmlip {model} {pair_extra}
pair_coeff * * H O
velocity all create 300 5 dist gaussian
fix nve all nve
timestep {dt_fs / 1000}
thermo 1000
run 2
run {steps}
""")


def lammps_run(
    atoms, model, workdir: pathlib.Path, steps: int, ranks: int = 1, dt_fs: float = DT_FS
) -> dict:
    """NVE run of ``steps`` after 2 warm-up steps; returns seconds per step and max RSS."""
    write_nve_inputs(atoms, model, workdir, steps, dt_fs=dt_fs)
    cmd = [str(BIN / "lmp"), "-in", "in.bench", "-log", "log.lammps"]
    if ranks > 1:
        cmd = [str(BIN / "mpiexec"), "-n", str(ranks)] + cmd
    # LAMMPS (OPENMP package) defaults to 1 OpenMP thread, which libtorch then uses too: give
    # each rank its share of the cores, as torch has in the OpenMM (Python) process
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // ranks)))
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)  # rusage of this run alone (peak memory)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"LAMMPS failed in {workdir}:\n{output[-2000:]}")
    loops = re.findall(r"Loop time of ([0-9.eE+-]+) on \d+ procs for (\d+) steps", output)
    seconds, nsteps = float(loops[-1][0]), int(loops[-1][1])
    return {"step_s": seconds / nsteps, "max_rss_mb": usage.ru_maxrss / 1024.0}


def openmm_run(atoms, model, steps: int, dt_fs: float = DT_FS) -> float:
    """Seconds per step of VerletIntegrator on the CPU platform (after 2 warm-up steps).
    ``dt_fs`` 0 (atoms in place): OpenMM's Verlet divides by the step, so 1e-4 fs from rest."""
    import openmm
    import openmm.unit as u

    from polmlip.workflows.openmm_md import system_from_atoms

    system, _ = system_from_atoms(atoms, str(model))
    integ = openmm.VerletIntegrator((dt_fs if dt_fs > 0 else 1e-4) * 1e-3)
    ctx = openmm.Context(system, integ, openmm.Platform.getPlatformByName("CPU"))
    ctx.setPositions(atoms.positions / 10.0)
    if dt_fs > 0:
        ctx.setVelocitiesToTemperature(300 * u.kelvin, 5)
    integ.step(2)
    t0 = time.perf_counter()
    integ.step(steps)
    return (time.perf_counter() - t0) / steps


def ase_force_time(atoms, model, calls: int, threads: int) -> float:
    """Seconds per energy + forces call of the ASE calculator with ``threads`` torch threads
    (median over ``calls`` configurations)."""
    from polmlip.ase import PolMLIPCalculator

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        calc = PolMLIPCalculator(str(model))
        atoms = atoms.copy()
        atoms.calc = calc
        atoms.get_forces()  # warm-up (graph executor, allocations)
        times = []
        for k in range(calls):
            atoms.positions[0, 0] += 1e-4 * (k + 1)  # a new configuration every call
            t0 = time.perf_counter()
            atoms.get_forces()
            times.append(time.perf_counter() - t0)
        return sorted(times)[len(times) // 2]
    finally:
        torch.set_num_threads(previous)


def ns_per_day(step_s: float) -> float:
    return DT_FS * 1e-6 / step_s * 86400.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, few steps (smoke test)")
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    p.add_argument(
        "--model",
        choices=sorted(SECTIONS),
        default="small",
        help="small: 8 channels, lmax 1 (the earlier tables); default: 16 channels, lmax 2, as "
        "polmlip train builds and polmlip export writes it (the SPICE recipe's size)",
    )
    args = p.parse_args(argv)
    default = args.model == "default"
    dt_fs = 0.0 if default else DT_FS
    steps = 3 if args.quick else (5 if default else 10)
    if args.quick:
        sizes = [64, 128, 512]
    else:
        sizes = [512, 2048, 4096] if default else [64, 512, 2048, 4096, 8192]
    box_mol = 64 if args.quick else 512
    speedup_mol = 128 if args.quick else 2048
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        models = make_models(tmp, args.model)
        box = water_box(box_mol, seed=1)
        n = len(box)
        # 1 + 2: long range on/off in LAMMPS, and OpenMM and ASE, on the same box
        on = lammps_run(box, models["on"], tmp / "on", steps, dt_fs=dt_fs)
        off = lammps_run(box, models["off"], tmp / "off", steps, dt_fs=dt_fs)
        omm = openmm_run(box, models["on"], steps, dt_fs=dt_fs)
        threads = max(1, os.cpu_count() or 1)
        ase_s = ase_force_time(box, models["on"], steps, threads)
        share = (on["step_s"] - off["step_s"]) / on["step_s"]
        moved = f"NVE steps of {DT_FS} fs" if not default else "steps with the atoms in place"
        table1 = [
            f"{n}-atom water box, {steps} {moved} after 2 warm-up steps, 1 rank; ASE: one "
            f"energy + forces call, median of {steps}, {threads} torch threads. ns/day at "
            f"{DT_FS} fs steps.",
            "",
            "| engine | long range | s/step | atom-steps/s | ns/day |",
            "|---|---|---|---|---|",
            f"| LAMMPS | on | {on['step_s']:.4f} | {n / on['step_s']:.0f} | "
            f"{ns_per_day(on['step_s']):.3f} |",
            f"| LAMMPS | off (SR) | {off['step_s']:.4f} | {n / off['step_s']:.0f} | "
            f"{ns_per_day(off['step_s']):.3f} |",
            f"| OpenMM (CPU platform) | on | {omm:.4f} | {n / omm:.0f} | {ns_per_day(omm):.3f} |",
            f"| ASE calculator | on | {ase_s:.4f} | {n / ase_s:.0f} | {ns_per_day(ase_s):.3f} |",
            "",
            f"Long range + response share of the LAMMPS step: **{100 * share:.1f} %** "
            f"(target ≤ 25 %; DPLR reports 56 %). OpenMM/LAMMPS time ratio: "
            f"{omm / on['step_s']:.2f}; ASE/LAMMPS: {ase_s / on['step_s']:.2f}.",
        ]
        print("\n".join(table1))
        # 3: scaling
        rows = []
        for mol in sizes:
            atoms = water_box(mol, seed=2)
            res = lammps_run(
                atoms, models["on"], tmp / f"scale{mol}", max(2, steps // 2), dt_fs=dt_fs
            )
            rows.append((len(atoms), res["step_s"], res["max_rss_mb"]))
            print(
                f"  N={len(atoms)}: {res['step_s']:.4f} s/step, max RSS {res['max_rss_mb']:.0f} MB"
            )
        ns = np.array([r[0] for r in rows], dtype=float)
        ts = np.array([r[1] for r in rows])
        slope_all = float(np.polyfit(np.log(ns), np.log(ts), 1)[0])
        big = ns >= 1536
        slope_big = (
            float(np.polyfit(np.log(ns[big]), np.log(ts[big]), 1)[0])
            if big.sum() > 1
            else float("nan")
        )
        table2 = [
            "| N | s/step | µs/atom/step | max RSS [MB] |",
            "|---|---|---|---|",
            *[f"| {int(a)} | {t:.4f} | {1e6 * t / a:.1f} | {m:.0f} |" for a, t, m in rows],
            "",
            f"Log–log slope of time per step: {slope_big:.3f} from 1,536 atoms up, "
            f"{slope_all:.3f} over the whole range (target ≤ 1.15).",
        ]
        print("\n".join(table2))
        # 4: two ranks
        big_box = water_box(speedup_mol, seed=3)
        one = lammps_run(big_box, models["on"], tmp / "r1", steps, dt_fs=dt_fs)
        two = lammps_run(big_box, models["on"], tmp / "r2", steps, ranks=2, dt_fs=dt_fs)
        speedup = one["step_s"] / two["step_s"]
        table3 = [
            f"{len(big_box)} atoms: 1 rank × {threads} threads {one['step_s']:.4f} s/step, 2 "
            f"ranks × {max(1, threads // 2)} thread(s) {two['step_s']:.4f} s/step, speed-up "
            f"**{speedup:.2f}×** on the same cores (target ≥ 1.6×; against 1 rank × 1 thread: "
            "benchmarks/lammps_scaling.py).",
        ]
        print("\n".join(table3))
    elapsed = time.perf_counter() - t_start
    if default:
        described = (
            f"Model: the default ({DEFAULT_MODEL}, i.e. 16 channels, lmax 2, 2 layers, 4.5 Å; "
            "charges, dipoles, induced charges and dipoles; the SPICE recipe's size), untrained, "
            f"export {DEFAULT_EXPORT}; off = the same size, ladder `SR`."
        )
    else:
        described = (
            f"Model: {MODEL}; long range = charges + induced dipoles (ladder `q` + "
            "`induced_dipoles`), off = ladder `SR`."
        )
    lines = [
        f"Written by `python benchmarks/md_throughput.py --model {args.model}` "
        f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores, torch "
        f"{torch.__version__}, {elapsed / 60:.1f} min). {described} "
        "LAMMPS runs with OMP_NUM_THREADS = cores / ranks (libtorch's intra-op threads); "
        "OpenMM and ASE run in the Python process; PolMLIPForce chooses its libtorch threads "
        "(docs/openmm.md, Threads).",
        "",
        "### Throughput, long range on/off, LAMMPS, OpenMM and ASE",
        "",
        *table1,
        "",
        "### Scaling (LAMMPS, 1 rank)",
        "",
        *table2,
        "",
        "### Two MPI ranks",
        "",
        *table3,
    ]
    if not args.no_write:
        replace_section(ROOT / "docs" / "benchmarks.md", SECTIONS[args.model], "\n".join(lines))
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
