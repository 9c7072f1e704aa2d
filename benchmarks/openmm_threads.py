"""libtorch threads of PolMLIPForce on OpenMM's CPU platform (issue 13; docs/benchmarks.md).

Seconds per MD step of 27 waters (81 atoms, periodic) with the model run on torch's default
intra-op thread count (what the plugin did before it chose its threads: the "before"), the
plugin's automatic choice (``torch_threads=None``) and 1 thread. A second table times 1
against 2 threads for larger boxes, the measurement behind the automatic rule (one thread
per ``ATOMS_PER_TORCH_THREAD`` atoms). Every setting is timed in every repetition, the
settings and conditions alternating, because the machine is shared: each condition is run
as found (whatever else the machine is doing, measured as *other CPU*) and with one extra
busy process started by this script (one core of other work, as in the issue).

Model: the demo's size (H/O, ladder ``+imu`` without quadrupoles, 8 channels, lmax 1, 2
layers, 4 Å cutoff, PME at 1e-5), untrained, float64 (timing only).

Run:  python benchmarks/openmm_threads.py              (~2-3 min on 2 cores)
      python benchmarks/openmm_threads.py --quick --no-write
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from polmlip.export import export_model
from polmlip.model import ModelConfig, PolMLIP
from polmlip.qmdata.structures import water_box

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from report import replace_section  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
TITLE = "OpenMM: libtorch threads of PolMLIPForce"  # the "## " section of docs/benchmarks.md
MODEL_TEXT = "H/O, ladder `+imu` without quadrupoles, 8 channels, lmax 1, 2 layers, 4 Å cutoff"
MODEL = dict(
    elements=["H", "O"],
    ladder="+imu",
    quadrupoles=False,
    channels=8,
    lmax=1,
    num_layers=2,
    cutoff=4.0,
)
DT_FS = 0.1  # short steps: the untrained model would pull atoms together in longer runs
MOLECULES = 27  # 81 atoms, the case of issue 13
SWEEP_MOLECULES = (216, 512, 1024)  # 648, 1536, 3072 atoms
CONDITIONS = ("as found", "+1 busy process")
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    """(busy CPU seconds of the whole machine from /proc/stat, CPU seconds of this process)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    t = os.times()
    return (sum(v) - v[3] - v[4]) / _CLK_TCK, t.user + t.system


class Case:
    """One OpenMM Context (CPU platform, ``openmm_threads`` of its own or its default) of a
    water box whose PolMLIPForce has ``torch_threads``."""

    def __init__(self, model, molecules, torch_threads, openmm_threads=None):
        import openmm

        from polmlip.openmm import PolMLIPForce
        from polmlip.workflows.openmm_md import system_from_atoms

        self.atoms = water_box(molecules, seed=1)
        system, top = system_from_atoms(self.atoms, str(model))
        system.removeForce(0)
        system.addForce(PolMLIPForce(model, top, torch_threads=torch_threads))
        self.integrator = openmm.VerletIntegrator(DT_FS * 1e-3)
        props = {} if openmm_threads is None else {"Threads": str(openmm_threads)}
        self.context = openmm.Context(
            system, self.integrator, openmm.Platform.getPlatformByName("CPU"), props
        )

    def time_steps(self, steps):
        """(s/step, cores used by this process, cores used by other processes) of ``steps``
        steps, after resetting positions and velocities and one untimed step."""
        import openmm.unit as u

        self.context.setPositions(self.atoms.positions / 10.0)
        self.context.setVelocitiesToTemperature(300 * u.kelvin, 5)
        self.integrator.step(1)
        busy0, own0 = cpu_seconds()
        t0 = time.perf_counter()
        self.integrator.step(steps)
        wall = time.perf_counter() - t0
        busy1, own1 = cpu_seconds()
        own = own1 - own0
        return wall / steps, own / wall, max(0.0, busy1 - busy0 - own) / wall


class BusyProcess:
    """One CPU-bound Python process while the ``with`` block runs (nothing if ``on`` is False)."""

    def __init__(self, on):
        self.on, self.proc = on, None

    def __enter__(self):
        if self.on:
            self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def run_rounds(cases, steps, rounds, conditions):
    """Time every case in every condition, ``rounds`` times, alternating; {(cond, key): rows}."""
    out = {(c, k): [] for c in conditions for k in cases}
    for r in range(rounds):
        # alternate the order of the conditions between rounds
        for cond in conditions if r % 2 == 0 else conditions[::-1]:
            with BusyProcess(cond != "as found"):
                for key, case in cases.items():
                    out[(cond, key)].append(case.time_steps(steps[key]))
        print(f"  round {r + 1}/{rounds} done", flush=True)
    return out


def median(rows, i):
    return statistics.median(r[i] for r in rows)


def sweep_summary(main_rows, sweep_rows, settings, conditions):
    """One sentence: the range of 2-thread speed-ups per condition, 81 atoms included."""
    two = next((k for k, t in settings.items() if t == (2, None)), None)
    parts = []
    for cond in conditions:
        ratios = [
            median(sweep_rows[(cond, (m, 1))], 0) / median(sweep_rows[(cond, (m, 2))], 0)
            for m in SWEEP_MOLECULES
        ]
        if two is not None:
            one = median(main_rows[(cond, "1 thread")], 0)
            ratios.append(one / median(main_rows[(cond, two)], 0))
        parts.append(f"{cond} {min(ratios):.2f}–{max(ratios):.2f}")
    sizes = f"{3 * MOLECULES}–{3 * max(SWEEP_MOLECULES)}"
    return f"Speed-up of a second thread over one at {sizes} atoms: {'; '.join(parts)}."


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few rounds, no sweep (smoke test)")
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    p.add_argument("--no-busy", action="store_true", help="skip the extra busy process")
    args = p.parse_args(argv)
    from polmlip.integrations.openmm import ATOMS_PER_TORCH_THREAD

    conditions = CONDITIONS[:1] if args.no_busy else CONDITIONS
    rounds, sweep_rounds = (2, 0) if args.quick else (5, 3)
    default_threads = torch.get_num_threads()
    load0 = os.getloadavg()[0]
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model = pathlib.Path(tmp) / "model.pt"
        torch.manual_seed(0)
        export_model(PolMLIP(ModelConfig.from_dict(dict(MODEL))).double(), model)
        n = 3 * MOLECULES
        auto = max(1, min(default_threads, n // ATOMS_PER_TORCH_THREAD))
        # name: (torch threads, OpenMM CPU threads); the first two are "before" and "after"
        settings = {
            f"torch default ({default_threads}), before": (default_threads, None),
            f"automatic ({auto}), after": (None, None),
            "1 thread": (1, None),
            f"torch default ({default_threads}), OpenMM Threads=1": (default_threads, 1),
        }
        cases = {name: Case(model, MOLECULES, *t) for name, t in settings.items()}
        print(f"{n} atoms, torch default {default_threads} threads, {len(cases)} settings")
        main_rows = run_rounds(cases, dict.fromkeys(cases, 10), rounds, conditions)
        sweep_rows = {}
        if sweep_rounds:
            sweep = {(mol, t): Case(model, mol, t) for mol in SWEEP_MOLECULES for t in (1, 2)}
            steps = {key: max(2, 1500 // (3 * key[0])) for key in sweep}
            print(f"sweep: {[3 * m for m in SWEEP_MOLECULES]} atoms, 1 and 2 threads")
            sweep_rows = run_rounds(sweep, steps, sweep_rounds, conditions)
            del sweep
        del cases
    elapsed = time.perf_counter() - t_start
    load1 = os.getloadavg()[0]

    table = [
        "| condition | torch threads | s/step (median) | min–max | vs 1 thread | "
        "own CPU [cores] | other CPU [cores] |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for cond in conditions:
        base = median(main_rows[(cond, "1 thread")], 0)
        for name in settings:
            rows = main_rows[(cond, name)]
            t = [r[0] for r in rows]
            table.append(
                f"| {cond} | {name} | {median(rows, 0):.4f} | {min(t):.4f}–{max(t):.4f} | "
                f"{median(rows, 0) / base:.2f}× | {median(rows, 1):.2f} | {median(rows, 2):.2f} |"
            )
    before, after = list(settings)[:2]
    headline = "; ".join(
        f"{cond}: {median(main_rows[(cond, before)], 0):.4f} → "
        f"{median(main_rows[(cond, after)], 0):.4f} s/step "
        f"(**{median(main_rows[(cond, before)], 0) / median(main_rows[(cond, after)], 0):.1f}×**)"
        for cond in conditions
    )
    table += ["", f"Before → after (medians; speed-up in bold), {headline}."]
    sweep_table = []
    if sweep_rows:
        sweep_table = [
            "| condition | atoms | 1 thread [s/step] (min) | 2 threads [s/step] (min) | "
            "speed-up of 2 threads | other CPU [cores] |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for cond in conditions:
            for mol in SWEEP_MOLECULES:
                one, two = sweep_rows[(cond, (mol, 1))], sweep_rows[(cond, (mol, 2))]
                other = statistics.median([r[2] for r in one + two])
                sweep_table.append(
                    f"| {cond} | {3 * mol} | {median(one, 0):.4f} ({min(r[0] for r in one):.4f}) "
                    f"| {median(two, 0):.4f} ({min(r[0] for r in two):.4f}) | "
                    f"{median(one, 0) / median(two, 0):.2f} | {other:.2f} |"
                )
    print("\n".join(table))
    if sweep_table:
        print("\n".join(sweep_table))

    lines = [
        f"Written by `python benchmarks/openmm_threads.py` ({time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} CPU cores, torch {torch.__version__} with the "
        f"{torch.__config__.parallel_info().split('ATen parallel backend: ')[-1].strip()} "
        "backend, OpenMM CPU platform with its default threads unless noted; "
        f"{elapsed / 60:.1f} min; load average {load0:.1f} at the start, {load1:.1f} at the "
        "end). Model: the demo's size "
        f"({MODEL_TEXT}), untrained, float64, PME at 1e-5. {MOLECULES} waters ({n} atoms, "
        f"periodic box), VerletIntegrator at {DT_FS} fs, 10 steps per timing after one untimed "
        f"step, {rounds} rounds; in every round each setting is timed in each condition, one "
        "after the other. *As found*: whatever else the machine was running (*other CPU*: "
        "cores used by other processes while timing, machine busy time from /proc/stat minus "
        "this process's). *+1 busy process*: the same with one extra CPU-bound process "
        "started by the script (one core of other work, a stand-in for the other job of "
        "issue 13). *Before*: torch's default thread count, which the plugin used before it "
        "chose its threads (it did not set any). *Own CPU*: cores used by this process while "
        "timing, which shows that the thread setting takes effect (idle OpenMP threads spin, "
        "so 2 threads show ~2 cores even when the second has little to do). *OpenMM "
        "Threads=1*: the CPU platform's own thread pool cut to one thread, to see whether it "
        "competes with torch's.",
        "",
        *table,
    ]
    if sweep_table:
        lines += [
            "",
            "Larger boxes, 1 against 2 threads (the measurement behind the automatic rule, one "
            f"torch thread per {ATOMS_PER_TORCH_THREAD} atoms, at least 1, at most torch's "
            f"count), {sweep_rounds} rounds of ≥ 2 steps, same conditions; medians, minima in "
            "parentheses, speed-up from the medians:",
            "",
            *sweep_table,
            "",
            sweep_summary(main_rows, sweep_rows, settings, conditions),
        ]
    if not args.no_write:
        replace_section(ROOT / "docs" / "benchmarks.md", TITLE, "\n".join(lines))
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
