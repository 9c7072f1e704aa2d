"""IR spectrum of a small water cluster from NVE MD with an exported H/O polmlip model.

    python examples/ir_water.py --model model.pt [--steps 20000 --timestep 0.5] [-o water_ir]
    python examples/ir_water.py --model model.pt --quick        # a few steps, for tests

Runs ASE velocity-Verlet MD, stores every frame with velocities (PREFIX_traj.extxyz, which
``polmlip ir PREFIX_traj.extxyz --timestep DT --model model.pt`` also reads), computes
dP/dt = Σ_i Z*_i v_i from the model's Born charges and writes PREFIX.dat / PREFIX.png.
Liquid-water reference bands: libration ~600, bend ~1640, O–H stretch ~3400 cm⁻¹ (a small
cluster in vacuum is not the liquid; a converged spectrum needs tens of ps).
"""

import argparse

import ase.io
import numpy as np

from polmlip.ase import PolMLIPCalculator
from polmlip.qmdata.datagen import water_cluster
from polmlip.workflows import ir
from polmlip.workflows.md import run_md_frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True, help="exported polmlip model with H and O")
    p.add_argument("--molecules", type=int, default=4, help="water molecules (default: 4)")
    p.add_argument("--steps", type=int, default=20000, help="MD steps (default: 20000)")
    p.add_argument("--timestep", type=float, default=0.5, help="fs (default: 0.5)")
    p.add_argument("--temperature", type=float, default=300.0, help="K (default: 300)")
    p.add_argument("--quick", action="store_true", help="2 molecules, 24 steps (tests)")
    p.add_argument("-o", "--output", default="water_ir", help="output prefix")
    args = p.parse_args()
    if args.quick:
        args.molecules, args.steps = 2, 24

    calc = PolMLIPCalculator(args.model)
    start = water_cluster(args.molecules, np.random.default_rng(1), distort=0.5)
    frames, _ = run_md_frames(
        start, calc, args.steps, args.timestep, 1, args.temperature, keep_start=True
    )
    ase.io.write(f"{args.output}_traj.extxyz", frames, format="extxyz")
    dmdt, route = ir.trajectory_dipole_derivative(frames, args.timestep, calc, source="bec")
    wn, inten = ir.ir_spectrum(
        dmdt, args.timestep, temperature_K=args.temperature, quantum_correction="harmonic"
    )
    bands = ir.band_positions(wn, inten)
    meta = {
        "system": f"{args.molecules} H2O cluster, NVE from {args.temperature} K",
        "time between frames [fs]": args.timestep,
        "frames": len(frames),
        "dP/dt source": route,
        "window": "hann",
        "quantum correction": "harmonic",
    }
    dat, png = ir.write_spectrum(args.output, wn, inten, meta, bands)
    for name, pos in bands.items():
        print(f"{name:8s} {pos:8.1f} cm^-1")
    print(f"wrote {dat}, {png}, {args.output}_traj.extxyz")


if __name__ == "__main__":
    main()
