"""Long NVE run in LAMMPS with a trained model: total-energy drift per atom per ps.

    python examples/demo.py                       # trains demo_output/model.pt (H, O)
    python benchmarks/lammps_nve.py --model demo_output/model.pt [--steps 40000] [--no-write]

A periodic water box (1 g/cm³, `polmlip.qmdata.structures.water_box`), field off, velocity
Verlet (`fix nve`) at 0.25 fs from 300 K velocities, `pair_style polmlip` on ``--ranks`` MPI
ranks. The drift is the slope of a straight-line fit of the total energy against time,
divided by the number of atoms; the fluctuation is the RMS about that line. Writes the
section "LAMMPS NVE energy conservation" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from report import replace_section  # noqa: E402

from polmlip.export.io import load_exported  # noqa: E402
from polmlip.qmdata.structures import water_box  # noqa: E402
from polmlip.workflows.lammps_md import run_lammps_field_md  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="exported H/O model")
    ap.add_argument("--molecules", type=int, default=8)
    ap.add_argument("--steps", type=int, default=40000)
    ap.add_argument("--dt", type=float, default=0.25, help="fs")
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    meta = load_exported(args.model)[1]
    atoms = water_box(args.molecules, seed=0)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        log = run_lammps_field_md(
            atoms,
            args.model,
            meta["elements"],
            pathlib.Path(tmp),
            steps=args.steps,
            ranks=args.ranks,
            amplitude=(0.0, 0.0, 0.0),
            period_fs=0.0,
            dt_fs=args.dt,
        )
    wall = time.perf_counter() - t0
    t_ps = log["time"] / 1000.0
    etot = log["etotal"]
    fit = np.polyfit(t_ps, etot, 1)
    drift = fit[0] / len(atoms)
    fluct = float(np.std(etot - np.polyval(fit, t_ps)))
    ke0 = float(etot[0] - log["pe"][0])
    text = "\n".join(
        [
            f"Command: `python benchmarks/lammps_nve.py --model MODEL --steps {args.steps}` with "
            f"MODEL = {pathlib.Path(args.model).name} (elements {meta['elements']}, cutoff "
            f"{meta['cutoff']} Å). Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
            f"Machine: {platform.processor() or platform.machine()}; {args.ranks} MPI rank(s); "
            f"{wall / 60:.1f} min.",
            "",
            f"{args.molecules}-molecule periodic water box ({len(atoms)} atoms, 1 g/cm³), field "
            f"off, `fix nve`, {args.dt} fs × {args.steps} steps = {t_ps[-1]:.2f} ps from 300 K "
            f"velocities (initial kinetic energy {ke0:.3f} eV).",
            "",
            "| drift [eV/atom/ps] | RMS fluctuation about the fit [eV] | total-energy range [eV] |",
            "|---:|---:|---:|",
            f"| {drift:.2e} | {fluct:.2e} | {etot.max() - etot.min():.2e} |",
            "",
            "The model of this run is the demo's (`examples/demo.py`: GFN2-xTB water clusters, "
            "40 epochs), so the box is outside its training data; the run checks that the "
            "engine integrates the exported potential conservatively over picoseconds.",
        ]
    )
    print(text)
    if not args.no_write:
        replace_section(ROOT / "docs" / "benchmarks.md", "LAMMPS NVE energy conservation", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
