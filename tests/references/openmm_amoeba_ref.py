"""Independent reference for point-multipole electrostatics built on OpenMM's AMOEBA force.

This module wraps :class:`openmm.AmoebaMultipoleForce` (Reference platform, double precision)
so that it can be used as an *independent* check of polmlip's electrostatics. It does not
import polmlip; every convention below was matched numerically against analytic formulas
(see ``tests/references/test_openmm_amoeba_ref.py``).

Conventions on the polmlip side (inputs and outputs of :func:`amoeba_energy_forces`)
-------------------------------------------------------------------------------------
Length Å, energy eV, charge e, field V/Å, Coulomb constant ``k_e = 14.399645`` eV·Å/e².
Cells are 3x3 arrays whose *rows* are the lattice vectors. Site ``j`` carries a charge
``q_j``, a dipole ``mu_j`` (e·Å) and a symmetric traceless "primitive" quadrupole
``Theta_j`` (e·Å², traceless part of ``sum q x_a x_b``), i.e. the charge density
``q δ − mu·∇δ + ½ Theta:∇∇δ``. The potential of one site at displacement ``R`` is::

    φ(R) = k_e [ q/r + mu·R/r³ + (3/2) RᵀΘR/r⁵ ]

(the Buckingham quadrupole is ``3Θ/2``). Polarizabilities ``alpha`` are in e·Å²/V so that
``mu_ind = alpha * E`` with ``E`` in V/Å; the polarizability volume is ``alpha * k_e`` (Å³).
With ``polarization="direct"`` the induced dipoles are ``mu_ind_i = alpha_i E_i`` where
``E_i`` is the field at site ``i`` of the permanent multipoles of all *other* sites (no
self-consistency), and the polarization energy is ``−½ Σ_i mu_ind_i·E_i``. With periodic
boundaries ``E_i`` includes the field of the periodic images of site ``i`` itself (every
lattice term except the site at zero lattice vector), as in Ewald/PME.

How the OpenMM side is set up
-----------------------------
* Every site uses ``NoAxisType`` with no frame atoms, so the dipoles/quadrupoles given to
  OpenMM are taken as lab-frame moments and are never rotated.
* No covalent maps are set, so every pair interacts with all scale factors equal to 1
  (there are no excluded or scaled pairs, also not for polarization).
* Forces: for ``NoAxisType`` sites OpenMM's torque-to-force mapping is skipped
  (``AmoebaReferenceMultipoleForce::mapTorqueToForce`` only acts on sites whose axis type
  is not ``NoAxisType``); the torques on the multipoles are simply dropped. The returned
  forces are therefore ``−dE/dr`` at *fixed lab-frame multipoles*, which is the meaning
  used here (checked against central finite differences of the energy in the tests).
  With direct polarization the energy is variational in the induced dipoles, so these
  forces are the full derivative of ``E_perm − ½ Σ alpha |E|²``.

(a) Quadrupole convention. OpenMM's ``molecularQuadrupole`` parameter ``P`` (e·nm²) is
    *half* the primitive traceless quadrupole: ``P = Θ/2`` (= Buckingham/3, the
    Tinker convention where quadrupoles are divided by 3 on input). Determined numerically
    with ``NoCutoff`` and ``P`` passed directly (random traceless ``P``, unit charge at
    ``R``): a charge-quadrupole pair gives ``E_openmm / (k (3/2) RᵀPR/r⁵) =
    2.0000000000000004`` and a quadrupole-quadrupole pair with random traceless ``P_A, P_B``
    matches the analytic formula evaluated with ``Θ = 2P`` to a ratio of
    ``1.0000000000000013``. Hence ``OPENMM_QUADRUPOLE_FACTOR = 0.5``. Dipoles need no factor
    (OpenMM's dipole is ``mu``; charge-dipole and dipole-dipole pairs match to 1e-13).

(b) Thole damping. In OpenMM (as in Tinker) the damping of the permanent field used for
    induction (``getAndScaleInverseRs``) is only applied when the product of the two
    per-site ``dampingFactor`` values is nonzero, and the polarization energy/force kernel
    uses ``u = r/(d_i d_j)`` with the damping switched off when ``|d_i d_j| <= 1e-5``.
    Setting ``dampingFactor = 0`` on every site therefore disables Thole damping
    completely; ``thole`` is then irrelevant (set to 0 here). Note that ``thole = 0``
    with a *nonzero* damping factor does **not** disable damping: it gives a damping factor
    ``1 − exp(0) = 0`` and zeroes the field and the polarization energy. Numbers (charge
    1 e and a polarizable site 1 Å apart, polarity 1.2e-3 nm³, OpenMM's AMOEBA-style
    damping factor polarity^(1/6) = 0.326):
    ``(thole, dampingFactor) = (0, 0)`` and ``(0.39, 0)`` reproduce ``−½ α|E|²`` and
    ``mu = αE`` to 4e-16; ``(0, 0.326)`` gives zero energy and zero induced dipole;
    ``(0.39, 0.326)`` gives 0.077 of the undamped energy (damping active).
    Permanent–permanent interactions are never damped in AMOEBA.

Units and constants. OpenMM works in nm, kJ/mol, e. ``1 eV = 96.48533212331002`` kJ/mol
(exact SI definition ``e N_A / 1000``). OpenMM's Coulomb constant is the CODATA-2018 value
``ONE_4PI_EPS0 = 138.93545764438198`` kJ/mol·nm/e² (not 138.935456), i.e.
``14.399645478425668`` eV·Å/e²; polmlip's ``14.399645`` is smaller by a relative
``3.32e-8``. Every energy of this model (permanent and polarization, at a fixed
polarizability *volume*) is linear in the Coulomb constant, so by default the OpenMM energies
and forces are rescaled by ``coulomb_constant / 14.399645478425668`` to give results for
exactly polmlip's constant; pass ``coulomb_constant=None`` to get OpenMM's raw numbers.
Induced dipoles do not depend on the constant (``polarity = alpha * coulomb_constant`` in
Å³, converted to nm³).

Periodic systems use AMOEBA PME (B-spline order 5, tin-foil boundary conditions, with the
uniform neutralizing background for a net charge). OpenMM requires a reduced triclinic
box (``a = (ax,0,0)``, ``b = (bx,by,0)``, ``c = (cx,cy,cz)``, ``ax >= 2|bx|`` ...); a
general cell is brought to that form by an orthogonal transformation (QR) plus a lattice
reduction, the dipoles/quadrupoles are transformed with it and forces/induced dipoles are
transformed back. The real-space sum is minimum-image only, so the cutoff is at most half
the smallest perpendicular width of the cell (the default).

PME accuracy (measured against a plain Ewald sum with explicit image and k-vector sums that
is independent of its splitting parameter to 1e-15, see the tests). OpenMM's AMOEBA PME
uses order-5 B-splines; dipole and quadrupole terms need up to the third derivative of the
interpolated potential, so they converge slowly (roughly h^3 for dipole-quadrupole terms,
erratically) and a finer grid soon stops paying. For 8 sites in a 12 Å cell (q ~ 1 e,
|mu| ~ 0.5 e·Å, |Θ| ~ 0.5 e·Å², spacing ~6 Å, direct polarization, cubic, triclinic and
rotated general cells), with the default ``ewald_tolerance=1e-8`` (alpha·cutoff = 4.21,
about 224 grid points per axis, 3-7 s):

* energy: 1e-7 to 3e-6 relative (<= 1.2e-5 eV);
* forces: max error 1e-3 to 5e-3 of the RMS force (2e-4 to 6e-4 eV/Å); the net force
  is of the same size (PME breaks translation invariance);
* induced dipoles: ~1e-5 of the largest;
* going to 256 or 320 points per axis gains at most a factor 2-5; 128 points per axis
  (0.5 s) is about 3x worse than the default. Versus a much finer grid of OpenMM itself the
  spread is the same (the error is interpolation error, not a bias).

Charges alone are far more accurate: rock-salt Madelung constant to 9e-9 (cubic cell) and
5e-10 (primitive triclinic cell) at ``ewald_tolerance=1e-8``; random charges agree with
the Ewald sum to ~1e-10 in energy and ~1e-7 of the RMS force already at grid 192, alpha
0.7/Å in a 12 Å cell. Use this harness to validate conventions and ~1e-6 energies; for
tighter periodic multipole checks use a direct Ewald sum.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "COULOMB",
    "EV_TO_KJ_PER_MOL",
    "OPENMM_COULOMB_EV_ANGSTROM",
    "OPENMM_QUADRUPOLE_FACTOR",
    "amoeba_energy_forces",
]

#: polmlip's Coulomb constant k_e in eV·Å/e².
COULOMB = 14.399645
#: 1 eV in kJ/mol (e * N_A / 1000 with the exact SI values).
EV_TO_KJ_PER_MOL = 96.48533212331002
#: OpenMM's ONE_4PI_EPS0 (CODATA 2018) in kJ/mol·nm/e².
OPENMM_COULOMB_KJ_NM = 138.93545764438198
#: The same constant in eV·Å/e².
OPENMM_COULOMB_EV_ANGSTROM = OPENMM_COULOMB_KJ_NM * 10.0 / EV_TO_KJ_PER_MOL
#: OpenMM's ``molecularQuadrupole`` = OPENMM_QUADRUPOLE_FACTOR * Θ (primitive, traceless).
OPENMM_QUADRUPOLE_FACTOR = 0.5

_NM_PER_ANGSTROM = 0.1


def _import_openmm():
    try:
        import openmm
    except ImportError as exc:  # pragma: no cover - exercised only without openmm
        raise ImportError("openmm_amoeba_ref needs the 'openmm' package") from exc
    return openmm


def _as_array(x, shape: tuple[int, ...], name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values")
    return a


def _check_quadrupoles(quad: np.ndarray) -> np.ndarray:
    """Validate symmetric traceless quadrupoles and return their exact projection."""
    scale = max(1.0, float(np.max(np.abs(quad)))) if quad.size else 1.0
    asym = np.max(np.abs(quad - np.swapaxes(quad, 1, 2))) if quad.size else 0.0
    trace = np.max(np.abs(np.trace(quad, axis1=1, axis2=2))) if quad.size else 0.0
    if asym > 1e-8 * scale or trace > 1e-8 * scale:
        raise ValueError("quadrupoles must be symmetric and traceless (primitive Θ convention)")
    sym = 0.5 * (quad + np.swapaxes(quad, 1, 2))
    tr = np.trace(sym, axis1=1, axis2=2)
    return sym - tr[:, None, None] * np.eye(3) / 3.0


def _reduced_cell(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(box, rot)`` with ``box`` OpenMM-reduced rows and ``rot`` orthogonal.

    Row vectors transform as ``v' = v @ rot``; ``box`` spans the same lattice as
    ``cell @ rot``.
    """
    if abs(np.linalg.det(cell)) < 1e-12:
        raise ValueError("cell is singular")
    q, r = np.linalg.qr(cell.T)
    signs = np.sign(np.diag(r))
    q = q * signs[None, :]
    low = (signs[:, None] * r).T  # = cell @ q, lower triangular with positive diagonal
    low[np.abs(low) < 1e-13 * np.max(np.abs(low))] = 0.0
    a, b, c = low[0].copy(), low[1].copy(), low[2].copy()
    a[1:] = 0.0
    b[2] = 0.0
    c = c - b * round(c[1] / b[1])
    c = c - a * round(c[0] / a[0])
    b = b - a * round(b[0] / a[0])
    return np.array([a, b, c]), q


def _min_width(box: np.ndarray) -> float:
    vol = abs(np.linalg.det(box))
    a, b, c = box
    return min(
        vol / np.linalg.norm(np.cross(b, c)),
        vol / np.linalg.norm(np.cross(c, a)),
        vol / np.linalg.norm(np.cross(a, b)),
    )


def amoeba_energy_forces(
    positions,
    charges,
    dipoles=None,
    quadrupoles=None,
    polarizabilities=None,
    *,
    cell=None,
    polarization: str = "none",
    ewald_tolerance: float = 1e-8,
    pme_alpha: float | None = None,
    pme_grid: tuple[int, int, int] | None = None,
    cutoff: float | None = None,
    coulomb_constant: float | None = COULOMB,
) -> dict[str, Any]:
    """Point-multipole electrostatics (optionally with direct polarization) via OpenMM.

    Args:
        positions: (N, 3) site positions in Å.
        charges: (N,) charges in e.
        dipoles: (N, 3) lab-frame dipoles in e·Å (default zero).
        quadrupoles: (N, 3, 3) lab-frame primitive traceless quadrupoles Θ in e·Å²
            (default zero). Must be symmetric and traceless to 1e-8 relative.
        polarizabilities: (N,) alpha in e·Å²/V; only allowed with ``polarization="direct"``
            (default zero there).
        cell: None for open boundaries (OpenMM ``NoCutoff``), else a (3, 3) array whose rows
            are the cell vectors in Å (PME; any non-singular cell, see module docstring).
        polarization: ``"none"`` (no induced dipoles) or ``"direct"`` (non-self-consistent
            induced dipoles from the permanent field, OpenMM ``Direct``).
        ewald_tolerance: Ewald error tolerance used, with OpenMM's own rules, for whatever
            of alpha and the grid is not given: alpha = sqrt(-ln(2 tol)) / cutoff and
            n_i = max(6, ceil(2 alpha L_ii / (3 tol^(1/5)))) with L_ii the diagonal of the
            reduced box. See the module docstring for the accuracy reached.
        pme_alpha: Ewald splitting parameter in 1/Å (overrides the tolerance rule).
        pme_grid: PME grid points along the three reduced box vectors (overrides the
            tolerance rule); the Reference platform uses them as given.
        cutoff: real-space cutoff in Å (PME only); default and maximum: half the smallest
            perpendicular width of the cell.
        coulomb_constant: rescale OpenMM's energies and forces to this Coulomb constant
            (eV·Å/e²); default polmlip's 14.399645. ``None`` keeps OpenMM's constant.

    Returns:
        dict with ``energy`` (eV), ``forces`` ((N, 3) eV/Å, ``−dE/dr`` at fixed lab-frame
        multipoles), ``induced_dipoles`` ((N, 3) e·Å, or None without polarization) and,
        for PME, ``pme_parameters`` = (alpha in 1/Å, nx, ny, nz) and ``cutoff`` (Å).
    """
    mm = _import_openmm()

    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise ValueError(f"positions must have shape (N, 3), got {pos.shape}")
    n = pos.shape[0]
    pos = _as_array(pos, (n, 3), "positions")
    q = _as_array(charges, (n,), "charges")
    mu = np.zeros((n, 3)) if dipoles is None else _as_array(dipoles, (n, 3), "dipoles")
    theta = (
        np.zeros((n, 3, 3))
        if quadrupoles is None
        else _check_quadrupoles(_as_array(quadrupoles, (n, 3, 3), "quadrupoles"))
    )
    if polarization not in ("none", "direct"):
        raise ValueError(f"polarization must be 'none' or 'direct', got {polarization!r}")
    if polarization == "none":
        if polarizabilities is not None:
            raise ValueError("polarizabilities given but polarization='none'")
        alpha_pol = np.zeros(n)
    else:
        alpha_pol = (
            np.zeros(n)
            if polarizabilities is None
            else _as_array(polarizabilities, (n,), "polarizabilities")
        )
        if np.any(alpha_pol < 0):
            raise ValueError("polarizabilities must be non-negative")
    if not 0.0 < ewald_tolerance < 0.5:
        raise ValueError(f"ewald_tolerance must be in (0, 0.5), got {ewald_tolerance}")

    k_ref = OPENMM_COULOMB_EV_ANGSTROM if coulomb_constant is None else float(coulomb_constant)
    # polarizability volume (Å^3) -> nm^3. Uses the target constant so that mu = alpha E
    # holds with E evaluated with that constant.
    polarity_nm3 = alpha_pol * k_ref * 1e-3

    rot = np.eye(3)
    box = None
    if cell is not None:
        cell_arr = _as_array(cell, (3, 3), "cell")
        box, rot = _reduced_cell(cell_arr)
        pos = pos @ rot
        mu = mu @ rot
        theta = np.einsum("ia,nab,bj->nij", rot.T, theta, rot)

    force = mm.AmoebaMultipoleForce()
    force.setPolarizationType(mm.AmoebaMultipoleForce.Direct)
    system = mm.System()
    quad_omm = theta * (OPENMM_QUADRUPOLE_FACTOR * _NM_PER_ANGSTROM**2)
    mu_omm = mu * _NM_PER_ANGSTROM
    for i in range(n):
        system.addParticle(1.0)
        force.addMultipole(
            float(q[i]),
            [float(x) for x in mu_omm[i]],
            [float(x) for x in quad_omm[i].ravel()],
            mm.AmoebaMultipoleForce.NoAxisType,
            -1,
            -1,
            -1,
            0.0,  # thole: irrelevant once dampingFactor == 0
            0.0,  # dampingFactor = 0 switches Thole damping off completely
            float(polarity_nm3[i]),
        )

    result: dict[str, Any] = {}
    if box is None:
        if cutoff is not None or pme_alpha is not None or pme_grid is not None:
            raise ValueError("cutoff/pme parameters need a periodic cell")
        force.setNonbondedMethod(mm.AmoebaMultipoleForce.NoCutoff)
    else:
        max_cut = 0.5 * _min_width(box)
        rc = max_cut * (1.0 - 1e-12) if cutoff is None else float(cutoff)
        if rc <= 0 or rc > max_cut * (1.0 + 1e-12):
            raise ValueError(f"cutoff must be in (0, {max_cut}] Å for this cell, got {rc}")
        box_nm = box * _NM_PER_ANGSTROM
        vecs = [mm.Vec3(*map(float, v)) for v in box_nm]
        system.setDefaultPeriodicBoxVectors(*vecs)
        force.setNonbondedMethod(mm.AmoebaMultipoleForce.PME)
        force.setCutoffDistance(min(rc * _NM_PER_ANGSTROM, 0.5 * float(np.min(np.diag(box_nm)))))
        # OpenMM's own rules (NonbondedForceImpl::calcPMEParameters), applied here so that
        # alpha and the grid can be overridden independently of each other.
        tol = float(ewald_tolerance)
        a_ewald = math.sqrt(-math.log(2.0 * tol)) / rc if pme_alpha is None else float(pme_alpha)
        if pme_grid is None:
            grid = [
                max(6, math.ceil(2.0 * a_ewald * box[d, d] / (3.0 * tol**0.2))) for d in range(3)
            ]
        else:
            grid = [int(v) for v in pme_grid]
            if len(grid) != 3 or min(grid) < 6:
                raise ValueError(f"pme_grid must be three integers >= 6, got {pme_grid}")
        if a_ewald <= 0:
            raise ValueError(f"pme_alpha must be positive, got {pme_alpha}")
        force.setPMEParameters(a_ewald / _NM_PER_ANGSTROM, *grid)
        result["cutoff"] = rc
    system.addForce(force)

    platform = mm.Platform.getPlatformByName("Reference")
    context = mm.Context(system, mm.VerletIntegrator(1e-3), platform)
    try:
        if box is not None:
            context.setPeriodicBoxVectors(*vecs)
        context.setPositions(pos * _NM_PER_ANGSTROM)
        state = context.getState(getEnergy=True, getForces=True)
        energy_kj = state.getPotentialEnergy().value_in_unit(mm.unit.kilojoule_per_mole)
        forces_kj = np.asarray(
            state.getForces(asNumpy=True).value_in_unit(
                mm.unit.kilojoule_per_mole / mm.unit.nanometer
            ),
            dtype=np.float64,
        )
        induced = None
        if polarization == "direct":
            induced = np.array([[v[0], v[1], v[2]] for v in force.getInducedDipoles(context)])
            induced = induced.reshape(n, 3) / _NM_PER_ANGSTROM
        if box is not None:
            a_nm, nx, ny, nz = force.getPMEParametersInContext(context)
            result["pme_parameters"] = (a_nm * _NM_PER_ANGSTROM, nx, ny, nz)
    finally:
        del context

    scale = k_ref / OPENMM_COULOMB_EV_ANGSTROM
    energy = energy_kj / EV_TO_KJ_PER_MOL * scale
    forces = forces_kj * (_NM_PER_ANGSTROM / EV_TO_KJ_PER_MOL) * scale
    # back to the caller's frame (rot is orthogonal: v = v' @ rot.T)
    forces = forces @ rot.T
    if induced is not None:
        induced = induced @ rot.T
    result.update(energy=float(energy), forces=forces, induced_dipoles=induced)
    return result
