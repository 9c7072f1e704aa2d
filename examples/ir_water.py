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
from ase import Atoms, units
from ase.build import molecule
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet
from tqdm.auto import tqdm

from polmlip.ase import PolMLIPCalculator
from polmlip.workflows import ir


def water_cluster(n: int, spacing: float = 2.9) -> Atoms:
    """``n`` water molecules on a small cubic grid ``spacing`` Å apart, randomly oriented."""
    rng = np.random.default_rng(1)
    side = int(np.ceil(n ** (1 / 3)))
    atoms = Atoms()
    for k in range(n):
        w = molecule("H2O")
        w.rotate(rng.uniform(0, 360), rng.normal(size=3), center="COM")
        w.translate(spacing * np.array([k % side, (k // side) % side, k // side**2]))
        atoms += w
    atoms.center(vacuum=6.0)
    return atoms


def run_nve(atoms: Atoms, calc, steps: int, dt_fs: float, temperature_K: float) -> list:
    """NVE MD; returns steps + 1 frames dt_fs apart (with momenta, dipole e·Å, time_fs)."""
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=np.random.default_rng(0))
    Stationary(atoms)
    ZeroRotation(atoms)
    dyn = VelocityVerlet(atoms, timestep=dt_fs * units.fs)
    frames = []
    for step in tqdm(range(steps + 1), desc="MD", unit="step"):
        if step:
            dyn.run(1)
        frame = atoms.copy()  # keeps momenta; the dipole lets polmlip ir work without a model
        frame.info["time_fs"] = step * dt_fs
        frame.info["dipole"] = np.array(calc.get_property("dipole", atoms))
        frames.append(frame)
    return frames


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
    frames = run_nve(
        water_cluster(args.molecules), calc, args.steps, args.timestep, args.temperature
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
