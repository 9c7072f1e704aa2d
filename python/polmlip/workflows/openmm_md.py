"""OpenMM systems and field-driven MD with :func:`polmlip.openmm.PolMLIPForce`.

Used by the demo, the examples and the OpenMM tests. Positions go in and out as ASE
``Atoms`` (Å); OpenMM works in nm, ps and kJ/mol.
"""

from __future__ import annotations

import math
import pathlib
from typing import Optional, Sequence, Tuple

import numpy as np

from ..fileio import atomic_write
from ..units import EV_TO_KJ_PER_MOL, NM_TO_ANGSTROM


def topology_from_atoms(atoms):
    """An OpenMM Topology with one residue per atom, the elements and the box of ``atoms``."""
    import openmm.app as app

    top = app.Topology()
    chain = top.addChain()
    for i, symbol in enumerate(atoms.get_chemical_symbols()):
        res = top.addResidue(f"{symbol}{i}", chain)
        top.addAtom(symbol, app.Element.getBySymbol(symbol), res)
    if atoms.pbc.all():
        top.setPeriodicBoxVectors(atoms.cell.array / NM_TO_ANGSTROM)
    return top


def system_from_atoms(
    atoms,
    model: str,
    field: Sequence[float] = (0.0, 0.0, 0.0),
    total_charge: float = 0.0,
    kspace_accuracy: Optional[float] = None,
) -> Tuple[object, object]:
    """(System, Topology) with the masses and box of ``atoms`` and one PolMLIPForce."""
    import openmm

    from ..integrations.openmm import PolMLIPForce

    top = topology_from_atoms(atoms)
    system = openmm.System()
    for mass in atoms.get_masses():
        system.addParticle(float(mass))
    if atoms.pbc.all():
        a, b, c = (openmm.Vec3(*v) for v in atoms.cell.array / NM_TO_ANGSTROM)
        system.setDefaultPeriodicBoxVectors(a, b, c)
    system.addForce(
        PolMLIPForce(
            model, top, field=field, total_charge=total_charge, kspace_accuracy=kspace_accuracy
        )
    )
    return system, top


def field_verlet_integrator(
    dt_fs: float, amplitude: Sequence[float] = (0.0, 0.0, 0.0), period_fs: float = 0.0
):
    """Velocity Verlet (a ``CustomIntegrator``) that drives the applied field.

    After each step at time t the field is E = amplitude·sin(2π t / period) in V/Å (static
    ``amplitude`` when ``period_fs`` is 0), written to the context parameters
    ``polmlip_Ex/Ey/Ez`` before the second half-kick, so that forces see the field of their
    time, as LAMMPS' ``efield v_`` does.
    """
    import openmm

    dt_ps = dt_fs * 1e-3
    integ = openmm.CustomIntegrator(dt_ps)
    integ.addGlobalVariable("t", 0.0)
    integ.addGlobalVariable("omega", 2 * math.pi / (period_fs * 1e-3) if period_fs > 0 else 0.0)
    for name, a in zip(("Ax", "Ay", "Az"), amplitude):
        integ.addGlobalVariable(name, float(a))
    integ.addPerDofVariable("x1", 0.0)
    integ.addUpdateContextState()
    integ.addComputePerDof("v", "v+0.5*dt*f/m")
    integ.addComputePerDof("x", "x+dt*v")
    integ.addComputePerDof("x1", "x")
    integ.addConstrainPositions()
    integ.addComputePerDof("v", "v+(x-x1)/dt")
    integ.addComputeGlobal("t", "t+dt")
    wave = "sin(omega*t)" if period_fs > 0 else "1"
    for comp in ("x", "y", "z"):
        integ.addComputeGlobal(f"polmlip_E{comp}", f"A{comp}*{wave}")
    integ.addComputePerDof("v", "v+0.5*dt*f/m")
    integ.addConstrainVelocities()
    return integ


def run_openmm_field_md(
    atoms,
    model: str,
    workdir: pathlib.Path,
    steps: int = 200,
    dt_fs: float = 0.5,
    amplitude: Sequence[float] = (0.2, 0.0, 0.0),
    period_fs: float = 50.0,
    temperature: float = 300.0,
    platform: str = "CPU",
    report_every: int = 1,
    seed: int = 11,
    progress: bool = True,
) -> dict:
    """NVE MD under E(t) = amplitude·sin(2π t/period) V/Å in OpenMM (periodic ``atoms``).

    Writes ``openmm_md.csv`` (time fs, total/potential energy eV, field V/Å, polarization
    e·Å from :func:`polmlip.openmm.get_output`, cumulative field work eV) and the final frame
    ``openmm_final.xyz`` to ``workdir``. Returns the columns as arrays; the field work
    −∫ (dE/dt)·P dt (:func:`polmlip.workflows.md.cumulative_field_work`) needs the samples
    of every step (``report_every=1``, the default) to be accurate.
    """
    import ase.io
    import openmm
    import openmm.unit as u
    from tqdm import tqdm

    from ..integrations.openmm import get_output
    from .md import cumulative_field_work

    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    system, _ = system_from_atoms(atoms, model)
    integ = field_verlet_integrator(dt_fs, amplitude, period_fs)
    ctx = openmm.Context(system, integ, openmm.Platform.getPlatformByName(platform))
    # the field of t = 0 (the integrator sets it after each step): a static field acts from
    # the first force call on, not from the second
    start = np.asarray(amplitude, dtype=float) * (0.0 if period_fs > 0 else 1.0)
    for comp, value in zip("xyz", start):
        ctx.setParameter(f"polmlip_E{comp}", float(value))
    ctx.setPositions(atoms.positions / NM_TO_ANGSTROM)
    ctx.setVelocitiesToTemperature(temperature * u.kelvin, seed)
    rows = []
    kj = u.kilojoule_per_mole
    bar = tqdm(total=steps, desc="OpenMM MD", unit="step", disable=not progress, leave=False)
    for step in range(0, steps + 1, report_every):
        if step > 0:
            integ.step(report_every)
            bar.update(report_every)
        state = ctx.getState(getEnergy=True)
        pe = state.getPotentialEnergy().value_in_unit(kj) / EV_TO_KJ_PER_MOL
        ke = state.getKineticEnergy().value_in_unit(kj) / EV_TO_KJ_PER_MOL
        field = [ctx.getParameter(f"polmlip_E{c}") for c in "xyz"]
        rows.append([step * dt_fs, pe + ke, pe, *field, *get_output(ctx, "polarization")])
    bar.close()
    data = np.array(rows)
    data = np.column_stack([data, cumulative_field_work(data[:, 3:6], data[:, 6:9])])
    header = (
        "time_fs,etotal_eV,pe_eV,Ex_V_per_A,Ey_V_per_A,Ez_V_per_A,Px_eA,Py_eA,Pz_eA,field_work_eV"
    )
    atomic_write(
        workdir / "openmm_md.csv",
        lambda tmp: np.savetxt(tmp, data, delimiter=",", header=header),
    )
    final = atoms.copy()
    pos = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(u.nanometer)
    final.positions = np.asarray(pos) * NM_TO_ANGSTROM
    atomic_write(workdir / "openmm_final.xyz", lambda tmp: ase.io.write(tmp, final, format="xyz"))
    return {
        "time": data[:, 0],
        "etotal": data[:, 1],
        "pe": data[:, 2],
        "field": data[:, 3:6],
        "polarization": data[:, 6:9],
        "field_work": data[:, 9],
    }
