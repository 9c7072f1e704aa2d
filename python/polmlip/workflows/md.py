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
