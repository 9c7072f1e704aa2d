"""GFN2-xTB reference labels through tblite: energy, forces, dipole, BECs, under a field.

tblite works in atomic units. Its energy under a uniform field F already contains −μ·F
(the electric enthalpy, the same convention as polmlip's U), so forces under a field are
−∂U/∂r directly. Everything returned here is in polmlip units: eV, eV/Å, e·Å, e, V/Å.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..units import (
    ATOMIC_DIPOLE_TO_E_ANGSTROM,
    ATOMIC_FIELD_TO_V_PER_ANGSTROM,
    BOHR_TO_ANGSTROM,
    HARTREE_TO_EV,
)

#: Elements GFN2-xTB is parametrised for (H–Rn).
MAX_ATOMIC_NUMBER = 86

#: Field step (V/Å) of the Born charges from the field derivative of the forces: the
#: response is linear to well beyond it (0.5 V/Å), and the force differences it makes
#: (~Z*·h ≈ 0.03 eV/Å) stand far above the SCC noise at the labeller's accuracy.
BEC_FIELD_STEP = 0.05

#: SCC mixer damping of the second try when the first (tblite's 0.4) does not converge.
RETRY_DAMPING = 0.1

#: Displacement (Å) of the Born charges from dipole differences.
BEC_DISPLACEMENT_STEP = 0.005


@dataclass
class XtbResult:
    """GFN2-xTB labels of one frame.

    Attributes:
        energy: eV (electric enthalpy when a field is applied).
        forces: (N, 3) eV/Å.
        dipole: (3,) e·Å (open boundaries only, else None).
        charges: (N,) e, Mulliken charges.
        bec: (N, 3, 3) e, Z*_i,βγ = ∂μ_β/∂r_iγ, or None when not requested.
        polarizability: (3, 3) e·Å²/V, α_βγ = ∂μ_β/∂E_γ at fixed nuclei (symmetrised), or
            None when not requested.
    """

    energy: float
    forces: np.ndarray
    dipole: Optional[np.ndarray]
    charges: np.ndarray
    bec: Optional[np.ndarray] = None
    polarizability: Optional[np.ndarray] = None


def _require_tblite():
    try:
        from tblite.interface import Calculator
        from tblite.library import ffi
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise InputError(
            f"GFN2-xTB reference data needs the 'tblite' package (pip install tblite): {exc}"
        ) from None
    return Calculator, ffi


def _check_atoms(atoms) -> None:
    z = atoms.get_atomic_numbers()
    if len(z) == 0:
        raise InputError("the structure has no atoms")
    if (z < 1).any() or (z > MAX_ATOMIC_NUMBER).any():
        raise InputError("GFN2-xTB covers elements H to Rn only")
    if not np.isfinite(atoms.positions).all():
        raise InputError("positions contain NaN or inf")
    if atoms.pbc.any() and not atoms.pbc.all():
        raise InputError("GFN2-xTB needs either no periodicity or periodicity in all directions")


class XtbLabeller:
    """Runs GFN2-xTB single points on ASE ``Atoms``.

    Args:
        total_charge: e. accuracy: tblite accuracy setting (smaller is tighter).
        max_iterations: SCC iterations.
    """

    def __init__(self, total_charge: float = 0.0, accuracy: float = 0.1, max_iterations: int = 250):
        self.total_charge = float(total_charge)
        self.accuracy = float(accuracy)
        self.max_iterations = int(max_iterations)
        self._calc_cls, self._ffi = _require_tblite()

    def _singlepoint(self, atoms, positions_A: np.ndarray, field_au):
        """One GFN2-xTB calculation; an SCC that does not converge is tried once more with
        stronger damping (:data:`RETRY_DAMPING`) and 4× the iterations, which changes the
        path to the solution, not the solution."""
        try:
            return self._run(atoms, positions_A, field_au, None, self.max_iterations)
        except RuntimeError:
            pass
        try:
            return self._run(atoms, positions_A, field_au, RETRY_DAMPING, 4 * self.max_iterations)
        except RuntimeError as exc:
            raise InputError(f"GFN2-xTB failed: {exc}") from None

    def _run(self, atoms, positions_A, field_au, damping, max_iterations):
        bohr = 1.0 / BOHR_TO_ANGSTROM
        periodic = bool(atoms.pbc.all())
        lattice = np.asarray(atoms.cell.array) * bohr if periodic else None
        calc = self._calc_cls(
            "GFN2-xTB",
            atoms.get_atomic_numbers(),
            positions_A * bohr,
            self.total_charge,
            None,
            lattice,
            np.array([True, True, True]) if periodic else None,
        )
        calc.set("verbosity", 0)
        calc.set("accuracy", self.accuracy)
        calc.set("max-iter", max_iterations)
        if damping is not None:
            calc.set("mixer-damping", damping)
        if field_au is not None and np.any(np.asarray(field_au) != 0):
            calc.add("electric-field", self._ffi.new("double[3]", [float(f) for f in field_au]))
        with _quiet(), _one_openmp_thread():
            return calc.singlepoint()

    def label(
        self,
        atoms,
        field: Sequence[float] = (0.0, 0.0, 0.0),
        bec: bool = False,
        bec_method: str = "field",
        polarizability: bool = False,
    ) -> XtbResult:
        """Label one frame.

        Args:
            atoms: ASE Atoms (open boundaries, or periodic in all directions).
            field: applied uniform field (3,) in V/Å (open boundaries only).
            bec: also compute Born effective charges (see :meth:`born_charges`).
            bec_method: ``"field"`` (6 single points, any size) or ``"dipole"`` (6N).
            polarizability: also compute α = ∂μ/∂E (see :meth:`field_derivatives`; with
                ``bec_method="field"`` the same 6 single points give both).
        """
        _check_atoms(atoms)
        field = np.asarray(field, dtype=np.float64)
        if field.shape != (3,) or not np.isfinite(field).all():
            raise InputError(f"field must be 3 finite numbers in V/Å, got {field!r}")
        periodic = bool(atoms.pbc.all())
        if periodic and np.any(field != 0):
            raise InputError(
                "a uniform field in a periodic cell is not supported by GFN2-xTB here; "
                "use open-boundary frames (clusters) for field data"
            )
        if periodic and (bec or polarizability):
            raise InputError(
                "GFN2-xTB Born charges and polarizabilities need open boundaries (clusters, "
                "molecules)"
            )
        res = self._singlepoint(atoms, atoms.positions, field / ATOMIC_FIELD_TO_V_PER_ANGSTROM)
        energy = float(res.get("energy")) * HARTREE_TO_EV
        forces = _forces(res)
        charges = np.asarray(res.get("charges"), dtype=np.float64)
        dipole = None
        if not periodic:
            dipole = np.asarray(res.get("dipole"), dtype=np.float64) * ATOMIC_DIPOLE_TO_E_ANGSTROM
        out = XtbResult(energy, forces, dipole, charges)
        if polarizability or (bec and bec_method == "field"):
            z, alpha = self.field_derivatives(atoms, field)
            out.bec = z if bec else None
            out.polarizability = alpha if polarizability else None
        elif bec:
            out.bec = self.born_charges(atoms, field, bec_method)
        return out

    def field_derivatives(
        self, atoms, field: Sequence[float] = (0.0, 0.0, 0.0)
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Born charges (N, 3, 3) e and polarizability (3, 3) e·Å²/V at the applied ``field``
        (V/Å), from 6 single points at E ± h ê_β (h = :data:`BEC_FIELD_STEP`) of an open frame.

        Z*_i,βγ = ∂F_iγ/∂E_β (the Maxwell relation ∂μ_β/∂r_iγ = −∂²U/∂E_β∂r_iγ) from the
        forces; α_βγ = ∂μ_β/∂E_γ at fixed nuclei from the dipoles, symmetrised (α = −∂²U/∂E²
        is symmetric; the SCC noise of the differences is not). The dipole response is linear
        far beyond h, so the central difference errs by O(h²) hyperpolarizability only.
        """
        base = np.asarray(field, dtype=np.float64)
        h = BEC_FIELD_STEP
        z = np.zeros((len(atoms), 3, 3))
        alpha = np.zeros((3, 3))
        for b in range(3):
            forces, dipoles = [], []
            for sign in (1.0, -1.0):
                e = base.copy()
                e[b] += sign * h
                res = self._singlepoint(atoms, atoms.positions, e / ATOMIC_FIELD_TO_V_PER_ANGSTROM)
                forces.append(_forces(res))
                dipoles.append(np.asarray(res.get("dipole")) * ATOMIC_DIPOLE_TO_E_ANGSTROM)
            z[:, b, :] = (forces[0] - forces[1]) / (2 * h)
            alpha[:, b] = (dipoles[0] - dipoles[1]) / (2 * h)
        return z, 0.5 * (alpha + alpha.T)

    def born_charges(
        self, atoms, field: Sequence[float] = (0.0, 0.0, 0.0), method: str = "field"
    ) -> np.ndarray:
        """(N, 3, 3) Z*_i,βγ = ∂μ_β/∂r_iγ in e at the applied ``field`` (V/Å).

        ``"field"``: the Maxwell relation ∂μ_β/∂r_iγ = −∂²U/∂E_β∂r_iγ = ∂F_iγ/∂E_β, by
        central differences of the forces in the field (:data:`BEC_FIELD_STEP`), 6 single
        points for every atom at once. ``"dipole"``: central differences of the dipole in
        the positions (:data:`BEC_DISPLACEMENT_STEP`), 6N single points. Both agree to the
        SCC convergence (tested).
        """
        base = np.asarray(field, dtype=np.float64)
        n = len(atoms)
        z = np.zeros((n, 3, 3))
        if method == "field":
            return self.field_derivatives(atoms, base)[0]
        if method != "dipole":
            raise InputError(f"BEC method must be 'field' or 'dipole', got {method!r}")
        step = BEC_DISPLACEMENT_STEP
        field_au = base / ATOMIC_FIELD_TO_V_PER_ANGSTROM
        for i in range(n):
            for g in range(3):
                dip = []
                for sign in (1.0, -1.0):
                    pos = atoms.positions.copy()
                    pos[i, g] += sign * step
                    res = self._singlepoint(atoms, pos, field_au)
                    dip.append(np.asarray(res.get("dipole")) * ATOMIC_DIPOLE_TO_E_ANGSTROM)
                z[i, :, g] = (dip[0] - dip[1]) / (2 * step)
        return z


def _forces(res) -> np.ndarray:
    """(N, 3) eV/Å from a tblite result (its gradient is in Hartree/Bohr)."""
    return -np.asarray(res.get("gradient")) * HARTREE_TO_EV / BOHR_TO_ANGSTROM


@contextlib.contextmanager
def _one_openmp_thread():
    """Run tblite on one OpenMP thread, restoring torch's thread count afterwards.

    tblite resolves ``libgomp.so.1`` to the copy torch already loaded, so both share one
    OpenMP runtime and tblite would use torch's thread count. Its threads spin while they
    wait: next to other busy processes a small cluster then took 100× longer (measured:
    131 s instead of 1 s for the BECs of 8 waters on 2 busy cores), while the single points
    are too small to gain from threads. ``POLMLIP_XTB_THREADS`` overrides the count.
    """
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("POLMLIP_XTB_THREADS", "1")))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextlib.contextmanager
def _quiet():
    """Silence tblite's Fortran writes to stdout (file descriptor 1)."""
    try:
        fd = os.dup(1)
    except OSError:  # pragma: no cover - no stdout
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(fd, 1)
            os.close(fd)
