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


def plot_field_runs(logs: Dict[str, Dict], path) -> None:
    """PNG of field, ΔE_pot and ΔE_total against time for named runs.

    ``logs``: name → dict with ``time`` (T,) fs, ``field`` (T, 3) V/Å, ``pe`` and
    ``etotal`` (T,) eV, as returned by the LAMMPS and OpenMM field-MD workflows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(3, 1, figsize=(6, 6), sharex=True)
    for name, log in logs.items():
        t, field = np.asarray(log["time"]), np.asarray(log["field"])
        ax[0].plot(t, np.linalg.norm(field, axis=1) * np.sign(field.sum(1)), label=name)
        ax[1].plot(t, log["pe"] - log["pe"][0], label=name)
        ax[2].plot(t, log["etotal"] - log["etotal"][0], label=name)
    ax[0].set_ylabel("field [V/Å]")
    ax[1].set_ylabel("ΔE_pot [eV]")
    ax[2].set_ylabel("ΔE_total [eV]")
    ax[2].set_xlabel("time [fs]")
    ax[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
