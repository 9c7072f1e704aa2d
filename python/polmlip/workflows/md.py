"""Short ASE molecular dynamics under a static or time-dependent field, with a progress bar."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import numpy as np
from ase import units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet
from tqdm.auto import tqdm

from ..fileio import save_figure


def field_verlet_step(atoms, calc, dt: float, field_next: Optional[np.ndarray] = None) -> None:
    """One velocity-Verlet step (``dt`` in ASE time units) under a time-dependent field.

    The first half kick uses the forces at the old time (old field, cached), the second the
    forces at the new positions *and* the new field ``field_next`` (V/Å), as the
    time-dependent Verlet scheme requires; applying the new field before the step instead
    makes the enthalpy balance dH/dt = −(dE/dt)·P fail at first order in dt.
    """
    masses = atoms.get_masses()[:, None]
    p = atoms.get_momenta() + 0.5 * dt * atoms.get_forces()
    atoms.set_positions(atoms.get_positions() + dt * p / masses)
    atoms.set_momenta(p)
    if field_next is not None:
        calc.set_external_field(field_next)
    atoms.set_momenta(atoms.get_momenta() + 0.5 * dt * atoms.get_forces())


def cumulative_field_work(field, polarization) -> np.ndarray:
    """W(t_k) = −Σ_{n<k} (E_{n+1} − E_n)·(P_n + P_{n+1})/2 (eV): the work −∫ (dE/dt)·P dt of a
    time-dependent field along samples of the field E (T, 3) V/Å and the polarization P
    (T, 3) e·Å, one per MD step, so that H(t) − H(0) − W(t) is the integration error
    (dH/dt = −(dE/dt)·P, docs/conventions.md). Exact for the field change of a step at fixed
    positions when P is linear in E (the non-self-consistent response); the trapezoid errs at
    O(dt²) along the trajectory, as velocity Verlet does."""
    e = np.asarray(field, dtype=np.float64).reshape(-1, 3)
    p = np.asarray(polarization, dtype=np.float64).reshape(-1, 3)
    if e.shape != p.shape:
        raise ValueError(f"field {e.shape} and polarization {p.shape} differ in length")
    steps = -np.einsum("ni,ni->n", np.diff(e, axis=0), 0.5 * (p[1:] + p[:-1]))
    return np.concatenate([[0.0], np.cumsum(steps)])


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
    """NVE velocity-Verlet MD from Maxwell–Boltzmann velocities (no net momentum) under an
    optional field ``field(t_fs)`` (V/Å) evaluated at every step's time.

    Returns time series from t = 0: time (fs), total energy (eV, the electric enthalpy),
    polarization (e·Å), field (V/Å) and ``field_work`` (eV), the cumulative work
    −∫ (dE/dt)·P dt of a time-dependent field (trapezoid rule), so that
    energy − energy[0] − field_work is the integration error.
    """
    from ase.md.velocitydistribution import Stationary

    atoms.calc = calc
    MaxwellBoltzmannDistribution(
        atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed)
    )
    Stationary(atoms)
    if field is not None:
        calc.set_external_field(field(0.0))
    log: Dict[str, List] = {
        "time": [],
        "energy": [],
        "polarization": [],
        "field": [],
        "field_work": [],
    }

    def record(t: float) -> None:
        log["time"].append(t)
        log["energy"].append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
        log["polarization"].append(np.array(calc.get_property("polarization", atoms)))
        log["field"].append(np.array(calc.external_field))

    record(0.0)
    for step in tqdm(range(steps), desc="MD", unit="step", disable=not progress):
        t = (step + 1) * timestep_fs
        field_verlet_step(atoms, calc, timestep_fs * units.fs, None if field is None else field(t))
        record(t)
    log["field_work"] = list(cumulative_field_work(log["field"], log["polarization"]))
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
    keep_start: bool = False,
):
    """NVE velocity-Verlet MD from Maxwell–Boltzmann velocities (no net momentum),
    keeping every ``every``-th frame for spectra (and the starting frame if ``keep_start``).

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

    def keep(time_fs: float) -> None:
        p = np.array(calc.get_property("polarization", atoms))
        frame = atoms.copy()
        frame.info["dipole"] = p
        frame.info["time_fs"] = time_fs
        frames.append(frame)
        dipoles.append(p)

    if keep_start:
        keep(0.0)
    for step in tqdm(range(steps), desc="MD", unit="step", disable=not progress):
        dyn.run(1)
        if step % every == 0:
            keep((step + 1) * timestep_fs)
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
    save_figure(fig, path)
    plt.close(fig)


def field_md_parser(description: str, output: str):
    """Command-line options shared by the static/AC field-MD examples (LAMMPS, OpenMM)."""
    import argparse

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", required=True, help="exported polmlip model (polmlip export)")
    p.add_argument("--structure", help="starting structure (extxyz, PDB...); periodic")
    p.add_argument("--molecules", type=int, default=32, help="waters when no structure")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--dt", type=float, default=0.5, help="time step in fs")
    p.add_argument("--amplitude", type=float, default=0.1, help="field amplitude in V/Å")
    p.add_argument("--period", type=float, default=20.0, help="AC period in fs")
    p.add_argument("--output", default=output, help="output folder")
    return p


def run_static_and_ac(args, run_one: Callable) -> Dict[str, Dict]:
    """Two NVE runs from the same start: static E_z = amplitude, then AC E_x = amplitude ·
    sin(2π t / period). ``run_one(atoms, workdir, amplitude, period_fs)`` runs one of them
    and returns its log (see :func:`plot_field_runs`); writes ``field_md.png``.

    The start is ``--structure`` (put in a periodic box with 8 Å of vacuum when it is not
    periodic) or a periodic box of ``--molecules`` waters.
    """
    import pathlib

    import ase.io

    from ..qmdata.structures import water_box

    if args.structure:
        atoms = ase.io.read(args.structure)
        if not atoms.pbc.all():
            atoms.center(vacuum=8.0)
            atoms.set_pbc(True)
    else:
        atoms = water_box(args.molecules, seed=0)
    out = pathlib.Path(args.output)
    runs = {
        "static": dict(amplitude=(0.0, 0.0, args.amplitude), period_fs=0.0),
        "ac": dict(amplitude=(args.amplitude, 0.0, 0.0), period_fs=args.period),
    }
    logs = {}
    for name, field in runs.items():
        print(f"{name} field: {field}", flush=True)
        logs[name] = run_one(atoms, out / name, **field)
        drift = logs[name]["etotal"][-1] - logs[name]["etotal"][0]
        print(f"  total-energy change {drift:.4g} eV over {args.steps} steps")
    plot_field_runs(logs, out / "field_md.png")
    print(f"wrote {out / 'field_md.png'} and the per-run outputs in {out}/static, {out}/ac")
    return logs
