"""OpenMM reporter writing extxyz frames with velocities, for ``polmlip ir``.

Example::

    from polmlip.integrations.openmm_reporter import ExtxyzReporter
    simulation.reporters.append(ExtxyzReporter("traj.extxyz", 10))  # every 10 steps
    simulation.step(100000)
    # polmlip ir traj.extxyz --timestep <10 × MD time step in fs> --model model.pt

Each frame holds positions (Å, not wrapped into the box, so molecules stay whole), masses
(Da, from the System), velocities (stored as ASE momenta: ``atoms.get_velocities() *
ase.units.fs`` reads them back in Å/fs), the cell (Å, periodic systems only) and
``info["time_fs"]`` / ``info["step"]``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..errors import InputError


class ExtxyzReporter:
    """Append the simulation state to an extxyz file every ``reportInterval`` steps.

    Args:
        file: path (overwritten, or appended to with ``append=True``) or an open text file.
        reportInterval: steps between frames; the time between frames is
            ``reportInterval × time step`` (pass that as ``polmlip ir --timestep``).
        elements: chemical symbol of every particle; default: from the Topology.
        append: append to an existing file instead of overwriting it.
    """

    def __init__(
        self,
        file,
        reportInterval: int,
        elements: Optional[Sequence[str]] = None,
        append: bool = False,
    ) -> None:
        if int(reportInterval) < 1:
            raise InputError(f"reportInterval must be a positive integer, got {reportInterval!r}")
        self._reportInterval = int(reportInterval)
        self._own = isinstance(file, (str, bytes)) or hasattr(file, "__fspath__")
        self._out = open(file, "a" if append else "w") if self._own else file
        self._elements = list(elements) if elements is not None else None
        self._masses: Optional[np.ndarray] = None
        self._periodic = False

    def describeNextReport(self, simulation) -> dict:
        """Steps until the next report and the state it needs (OpenMM 8 dict form)."""
        steps = self._reportInterval - simulation.currentStep % self._reportInterval
        return {"steps": steps, "periodic": False, "include": ["positions", "velocities"]}

    def report(self, simulation, state) -> None:
        """Write one extxyz frame of ``state``."""
        import ase.io
        from ase import Atoms
        from ase import units as ase_units
        from openmm import unit

        if self._masses is None:
            self._setup(simulation)
        pos = state.getPositions(asNumpy=True).value_in_unit(unit.angstrom)
        vel = state.getVelocities(asNumpy=True).value_in_unit(unit.angstrom / unit.femtosecond)
        atoms = Atoms(self._elements, positions=np.asarray(pos), masses=self._masses)
        if self._periodic:
            box = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(unit.angstrom)
            atoms.set_cell(np.asarray(box))
            atoms.pbc = True
        atoms.set_velocities(np.asarray(vel) / ase_units.fs)  # Å/fs → Å per ASE time unit
        atoms.info["time_fs"] = float(state.getTime().value_in_unit(unit.femtosecond))
        atoms.info["step"] = int(simulation.currentStep)
        ase.io.write(self._out, atoms, format="extxyz")
        self._out.flush()

    def _setup(self, simulation) -> None:
        from openmm import unit

        system = simulation.system
        n = system.getNumParticles()
        if self._elements is None:
            self._elements = [_symbol(a) for a in simulation.topology.atoms()]
        if len(self._elements) != n:
            raise InputError(f"ExtxyzReporter got {len(self._elements)} elements for {n} particles")
        self._masses = np.array(
            [system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(n)]
        )
        self._periodic = bool(system.usesPeriodicBoundaryConditions())

    def close(self) -> None:
        """Close the file if this reporter opened it."""
        if self._own and not self._out.closed:
            self._out.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


def _symbol(atom) -> str:
    if atom.element is None:
        raise InputError(
            f"topology atom {atom.name!r} has no element (virtual site?): pass elements="
        )
    return atom.element.symbol
