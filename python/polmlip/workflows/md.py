"""Short ASE molecular dynamics under a static or time-dependent field, with a progress bar."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import numpy as np
from ase import units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet
from tqdm.auto import tqdm


def run_md(
    atoms,
    calc,
    steps: int,
    timestep_fs: float = 0.5,
    temperature_K: float = 300.0,
    field: Optional[Callable[[float], np.ndarray]] = None,
    seed: int = 0,
    progress: bool = True,
) -> Dict[str, List]:
    """NVE velocity-Verlet MD; ``field(t_fs)`` (V/Å) is applied before every step.

    Returns time series: time (fs), total energy (eV), polarization (e·Å), field (V/Å).
    """
    atoms.calc = calc
    MaxwellBoltzmannDistribution(
        atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed)
    )
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    log: Dict[str, List] = {"time": [], "energy": [], "polarization": [], "field": []}
    for step in tqdm(range(steps), desc="MD", unit="step", disable=not progress):
        t = step * timestep_fs
        if field is not None:
            calc.set_external_field(field(t))
        dyn.run(1)
        log["time"].append(t + timestep_fs)
        log["energy"].append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
        log["polarization"].append(np.array(calc.get_property("polarization", atoms)))
        log["field"].append(np.array(calc.external_field))
    return log


def run_md_frames(
    atoms,
    calc,
    steps: int,
    timestep_fs: float = 0.5,
    every: int = 2,
    temperature_K: float = 300.0,
    seed: int = 0,
    progress: bool = True,
):
    """NVE velocity-Verlet MD from Maxwell–Boltzmann velocities (no net momentum),
    keeping every ``every``-th frame for spectra.

    Returns (frames, dipoles): copies of the kept frames with velocities, ``info``
    ``dipole`` (e·Å, the calculator's polarization) and ``time_fs``, and the (T, 3) array
    of those dipoles. The frames are ``every · timestep_fs`` apart.
    """
    from ase.md.velocitydistribution import Stationary

    atoms.calc = calc
    MaxwellBoltzmannDistribution(
        atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed)
    )
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    frames, dipoles = [], []
    for step in tqdm(range(steps), desc="MD", unit="step", disable=not progress):
        dyn.run(1)
        if step % every == 0:
            p = np.array(calc.get_property("polarization", atoms))
            frame = atoms.copy()
            frame.info["dipole"] = p
            frame.info["time_fs"] = (step + 1) * timestep_fs
            frames.append(frame)
            dipoles.append(p)
    return frames, np.array(dipoles)
