"""Reference data sets labelled with GFN2-xTB: water clusters, a periodic water box, NaCl.

Each generator makes distorted structures (random bond lengths, angles, orientations
and thermal-sized displacements) so that a model sees forces well away from minima.
:func:`generate` labels them (optionally under a random uniform field, optionally with
finite-difference BECs) and :func:`write_extxyz_atomic` writes the file in one step.
"""

from __future__ import annotations

import math
import pathlib
from typing import List, Sequence, Tuple

import numpy as np
from ase import Atoms

from ..errors import InputError
from ..fileio import atomic_write
from ..units import ATOMIC_FIELD_TO_V_PER_ANGSTROM
from .structures import HOH_DEGREES, R_OH, water_box

#: Systems :func:`generate` knows, with a one-line description each.
SYSTEMS = {
    "water-clusters": "open water clusters of a random size in --molecules (dipoles, BECs)",
    "water-box": "periodic liquid-density water boxes (energies and forces; no field)",
    "nacl-clusters": "open rock-salt NaCl fragments, 8 to 18 ions (dipoles, BECs)",
    "file": "the open frames of --input, keeping their labels (GFN2-xTB ones added as xtb_*)",
}

#: Rock-salt NaCl lattice constant, Å (experiment, room temperature).
NACL_LATTICE = 5.64


def _water_molecule(rng: np.random.Generator, distort: float) -> np.ndarray:
    """(3, 3) O, H, H positions (Å) with random bond lengths and angle, centred on O."""
    r1, r2 = R_OH + distort * 0.04 * rng.standard_normal(2)
    angle = math.radians(HOH_DEGREES + distort * 6.0 * rng.standard_normal())
    local = np.array(
        [[0.0, 0.0, 0.0], [r1, 0.0, 0.0], [r2 * math.cos(angle), r2 * math.sin(angle), 0]]
    )
    rot, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    return local @ rot.T


def water_cluster(n_molecules: int, rng: np.random.Generator, distort: float = 1.0) -> Atoms:
    """A compact open cluster of ``n_molecules`` waters (O–O ≥ 2.6 Å), atom order O H H.

    Oxygens are placed one by one, each 2.6–3.2 Å from a random earlier one, so the
    cluster is connected like a hydrogen-bonded one; every atom then moves by a
    Gaussian of 0.04·distort Å (about the thermal amplitude at 300 K).
    """
    if n_molecules < 1:
        raise InputError("a water cluster needs at least one molecule")
    centres: List[np.ndarray] = [np.zeros(3)]
    while len(centres) < n_molecules:
        anchor = centres[rng.integers(len(centres))]
        d = rng.standard_normal(3)
        trial = anchor + d / np.linalg.norm(d) * rng.uniform(2.6, 3.2)
        if all(np.linalg.norm(trial - c) >= 2.6 for c in centres):
            centres.append(trial)
    pos = np.concatenate([_water_molecule(rng, distort) + c for c in centres])
    pos += 0.04 * distort * rng.standard_normal(pos.shape)
    atoms = Atoms("OH2" * n_molecules, positions=pos)
    atoms.center(vacuum=5.0)
    atoms.set_pbc(False)
    return atoms


def water_box_frame(n_molecules: int, rng: np.random.Generator, distort: float = 1.0) -> Atoms:
    """A periodic water box (1 g/cm³) with distorted molecules and rattled atoms."""
    atoms = water_box(n_molecules, seed=int(rng.integers(2**31)))
    pos = atoms.positions.reshape(n_molecules, 3, 3)
    for m in range(n_molecules):
        pos[m] = _water_molecule(rng, distort) + pos[m, 0]
    atoms.positions = pos.reshape(-1, 3) + 0.04 * distort * rng.standard_normal(
        (3 * n_molecules, 3)
    )
    atoms.wrap()
    return atoms


def nacl_cluster(rng: np.random.Generator, distort: float = 1.0) -> Atoms:
    """A neutral rock-salt fragment of 2–3 ions per edge with an even count (8, 12 or 18).

    Ions sit on the rock-salt lattice (a = 5.64 Å, contracted by 3 % as small clusters
    are) and are rattled by 0.08·distort Å.
    """
    while True:
        shape = rng.integers(2, 4, size=3)
        if int(np.prod(shape)) % 2 == 0:
            break
    grid = np.stack(np.meshgrid(*[np.arange(k) for k in shape], indexing="ij"), -1).reshape(-1, 3)
    symbols = ["Na" if s % 2 == 0 else "Cl" for s in grid.sum(1)]
    pos = grid * (NACL_LATTICE / 2 * 0.97) + 0.08 * distort * rng.standard_normal(grid.shape)
    atoms = Atoms(symbols, positions=pos)
    atoms.center(vacuum=5.0)
    atoms.set_pbc(False)
    return atoms


def random_field(rng: np.random.Generator, magnitude_au: float, axis: str = "random") -> np.ndarray:
    """(3,) field in V/Å of magnitude ``magnitude_au`` atomic units along ``axis``."""
    if axis == "random":
        d = rng.standard_normal(3)
        d /= np.linalg.norm(d)
    elif axis in ("x", "y", "z"):
        d = np.eye(3)["xyz".index(axis)]
    else:
        raise InputError(f"field axis must be x, y, z or random, got {axis!r}")
    return d * magnitude_au * ATOMIC_FIELD_TO_V_PER_ANGSTROM


def make_structure(system: str, rng: np.random.Generator, molecules: Tuple[int, int]) -> Atoms:
    """One unlabelled structure of ``system`` (see :data:`SYSTEMS`)."""
    lo, hi = molecules
    if system == "water-clusters":
        return water_cluster(int(rng.integers(lo, hi + 1)), rng)
    if system == "water-box":
        return water_box_frame(int(rng.integers(lo, hi + 1)), rng)
    if system == "nacl-clusters":
        return nacl_cluster(rng)
    raise InputError(f"unknown system {system!r}; choose one of {sorted(SYSTEMS)}")


def generate(
    system: str,
    n_frames: int,
    molecules: Tuple[int, int] = (1, 16),
    field_au: float | Tuple[float, float] = 0.0,
    field_fraction: float = 1.0,
    field_axis: str = "random",
    bec: bool = False,
    seed: int = 0,
    progress: bool = True,
    polarizability: bool = False,
) -> List[Atoms]:
    """Make and label ``n_frames`` structures with GFN2-xTB.

    Args:
        system: a key of :data:`SYSTEMS`.
        molecules: (min, max) molecules per water cluster or box.
        field_au: magnitude of the applied field in atomic units (1 au = 51.42 V/Å), or a
            (min, max) range drawn uniformly per frame; applied to a fraction
            ``field_fraction`` of the frames, along ``field_axis``.
        bec: finite-difference Born effective charges (open systems only; 6N single
            points per frame).
        seed: random seed of structures and fields.
        polarizability: α = ∂μ/∂E at fixed nuclei by central finite fields (open systems;
            the same 6 single points as the Born charges).

    Returns frames with ``info``: energy (eV), dipole (e·Å, open systems), external_field
    (V/Å), total_charge (e), polarizability (3×3 e·Å²/V, symmetric); ``arrays``: forces
    (eV/Å), xtb_charges (e), bec (N, 9) e.
    """
    from tqdm.auto import tqdm

    from .xtb import XtbLabeller

    if system not in SYSTEMS:
        raise InputError(f"unknown system {system!r}; choose one of {sorted(SYSTEMS)}")
    if n_frames < 1:
        raise InputError("the number of frames must be positive")
    lo, hi = molecules
    if not 1 <= lo <= hi:
        raise InputError(f"molecules must satisfy 1 ≤ min ≤ max, got {molecules}")
    if np.isscalar(field_au):
        field_au = (field_au, field_au)
    if len(field_au) != 2:
        raise InputError(f"field_au must be one magnitude or (min, max) in au, got {field_au}")
    f_lo, f_hi = (float(f) for f in field_au)
    if not 0 <= f_lo <= f_hi or not 0 <= field_fraction <= 1:
        raise InputError(
            f"the field must be ≥ 0 au (min ≤ max), got {field_au}; field_fraction within [0, 1]"
        )
    if system == "water-box" and (f_hi > 0 or bec or polarizability):
        raise InputError(
            "water-box frames are periodic: fields, BECs and polarizabilities need clusters"
        )
    if f_hi > 0.05:
        raise InputError(f"field {f_hi} au is beyond the linear-response regime (≤ 0.05 au)")
    rng = np.random.default_rng(seed)
    labeller = XtbLabeller()
    frames = []
    for _ in tqdm(range(n_frames), desc=f"GFN2-xTB {system}", unit="frame", disable=not progress):
        atoms = make_structure(system, rng, molecules)
        field = np.zeros(3)
        if f_hi > 0 and rng.random() < field_fraction:
            field = random_field(rng, rng.uniform(f_lo, f_hi), field_axis)
        res = labeller.label(atoms, field=field, bec=bec, polarizability=polarizability)
        atoms.info["energy"] = res.energy
        atoms.info["external_field"] = field
        atoms.info["total_charge"] = 0.0
        atoms.info["method"] = "GFN2-xTB"
        if res.dipole is not None:
            atoms.info["dipole"] = res.dipole
        atoms.arrays["forces"] = res.forces
        atoms.arrays["xtb_charges"] = res.charges
        if res.bec is not None:
            atoms.arrays["bec"] = res.bec.reshape(len(atoms), 9)
        if res.polarizability is not None:
            atoms.info["polarizability"] = res.polarizability
        frames.append(atoms)
    return frames


#: Prefix of the GFN2-xTB labels :func:`label_file` adds to frames that keep their own.
XTB_PREFIX = "xtb_"


def label_frames(
    frames: Sequence[Atoms], bec: bool = True, progress: bool = True, polarizability: bool = False
) -> List[Atoms]:
    """Add GFN2-xTB labels to existing open frames, keeping every label they carry.

    The new labels are named with :data:`XTB_PREFIX`: ``info`` xtb_energy (eV), xtb_dipole
    (e·Å); ``arrays`` xtb_forces (eV/Å), xtb_charges (e) and, with ``bec``, xtb_bec (N, 9)
    e in polmlip's layout Z*_βγ = ∂μ_β/∂r_γ (row-major); with ``polarizability``, ``info``
    xtb_polarizability (3×3 e·Å²/V, symmetric). The frame's total charge is read
    from ``info`` (``total_charge`` or ``charge``, default 0) and its applied field from
    ``external_field`` (V/Å, default none). Typical use: GFN2-xTB Born charges for a DFT set
    that has energies, forces and dipoles but no Born charges.
    """
    from tqdm.auto import tqdm

    from .xtb import XtbLabeller

    out = []
    for k, atoms in enumerate(
        tqdm(frames, desc="GFN2-xTB labels", unit="frame", disable=not progress)
    ):
        if atoms.pbc.any():
            raise InputError(
                f"frame {k} is periodic: GFN2-xTB Born charges and dipoles need open frames"
            )
        charge = float(atoms.info.get("total_charge", atoms.info.get("charge", 0.0)))
        field = np.asarray(atoms.info.get("external_field", np.zeros(3)), dtype=np.float64)
        labeller = XtbLabeller(total_charge=charge)
        res = labeller.label(atoms, field=field.reshape(3), bec=bec, polarizability=polarizability)
        atoms = atoms.copy() if atoms.calc is None else _with_results(atoms)
        atoms.info[XTB_PREFIX + "energy"] = res.energy
        atoms.info[XTB_PREFIX + "dipole"] = res.dipole
        atoms.arrays[XTB_PREFIX + "forces"] = res.forces
        atoms.arrays[XTB_PREFIX + "charges"] = res.charges
        if res.bec is not None:
            atoms.arrays[XTB_PREFIX + "bec"] = res.bec.reshape(len(atoms), 9)
        if res.polarizability is not None:
            atoms.info[XTB_PREFIX + "polarizability"] = res.polarizability
        out.append(atoms)
    return out


def _with_results(atoms: Atoms) -> Atoms:
    """A copy of ``atoms`` that keeps its calculator results (ASE puts energy and dipole
    of an extxyz file there; they are written back under their own names)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    copy = atoms.copy()
    copy.calc = SinglePointCalculator(copy, **atoms.calc.results)
    return copy


def write_extxyz_atomic(frames: Sequence[Atoms], path) -> pathlib.Path:
    """Write ``frames`` as extxyz to a temporary file beside ``path``, then rename it.

    A crash or Ctrl-C never leaves a half-written file under ``path``.
    """
    import ase.io

    return atomic_write(path, lambda tmp: ase.io.write(tmp, list(frames), format="extxyz"))
