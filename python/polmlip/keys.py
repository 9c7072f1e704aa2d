"""Names of the fields that flow through polmlip: graphs, model outputs, data, metadata.

Each constant documents the shape and unit of the tensor stored under it.
"""

from typing import Final

# ---- graph inputs (built by data loaders and engines) ----
SPECIES: Final[str] = "species"  # (N,) int64 | index into the model's element list
POSITIONS: Final[str] = "positions"  # (N, 3) | Å
EDGE_INDEX: Final[str] = "edge_index"  # (2, E) int64 | (i, j): j is a neighbour of i
EDGE_SHIFT: Final[str] = "edge_shift"  # (E, 3) | integer lattice shifts, r_ij = r_j − r_i + S·cell
BATCH: Final[str] = "batch"  # (N,) int64 | frame index of each atom
CELL: Final[str] = "cell"  # (B, 3, 3) | Å, lattice vectors as rows
PBC: Final[str] = "pbc"  # (B,) bool | periodic in all three directions
EXTERNAL_FIELD: Final[str] = "external_field"  # (B, 3) | V/Å
TOTAL_CHARGE: Final[str] = "total_charge"  # (B,) | e
NUM_ATOMS: Final[str] = "num_atoms"  # (B,) int64
NUM_LOCAL: Final[str] = "num_local"  # (1,) int64 | engine frames: atoms [n_local:] are ghosts
# (N,) int64 | engine frames with ghosts: global index 0..N_global−1 of every graph atom, a
# ghost sharing its owner's; ghosts take per-atom values (bond charges, potential) from owners
ATOM_INDEX: Final[str] = "atom_index"

# ---- model outputs ----
ENERGY: Final[str] = "energy"  # (B,) | eV (electric enthalpy under a field)
ATOMIC_ENERGY: Final[str] = "atomic_energy"  # (N,) | eV, short-range part incl. shifts
FORCES: Final[str] = "forces"  # (N, 3) | eV/Å
STRESS: Final[str] = "stress"  # (B, 3, 3) | eV/Å³, stress = −virial / V
VIRIAL: Final[str] = "virial"  # (B, 3, 3) | eV
CHARGES: Final[str] = "charges"  # (N,) | e, permanent latent charges after conservation
# (N,) | e, the geometry-independent part of q; P holds Σ q_site r of the coordinates the engine
# passes, so an engine that wraps atoms adds Σ q_site (r_unwrapped − r) to P (and −E· that to U)
SITE_CHARGES: Final[str] = "site_charges"
DIPOLES: Final[str] = "dipoles"  # (N, 3) | e·Å, permanent latent dipoles
QUADRUPOLES: Final[str] = "quadrupoles"  # (N, 3, 3) | e·Å², traceless
INDUCED_CHARGES: Final[str] = "induced_charges"  # (N,) | e
INDUCED_DIPOLES: Final[str] = "induced_dipoles"  # (N, 3) | e·Å
POTENTIAL: Final[str] = "potential"  # (N,) | V, of the permanent multipoles
FIELD: Final[str] = "field"  # (N, 3) | V/Å, of the permanent multipoles
POLARIZATION: Final[str] = "polarization"  # (B, 3) | e·Å (total: permanent + induced)
BEC: Final[str] = "bec"  # (N, 3, 3) | e, Z*_i,βγ = ∂P_β/∂r_iγ; engine frames: a row per graph atom
POLARIZABILITY: Final[str] = "polarizability"  # (B, 3, 3) | e·Å²/V, −∂²U/∂E_ext²
ELECTROSTATIC_ENERGY: Final[str] = "electrostatic_energy"  # (B,) | eV, permanent multipoles
RESPONSE_ENERGY: Final[str] = "response_energy"  # (B,) | eV, ΔE_q + ΔE_μ

# ---- per-frame data keys (reference values in datasets) ----
DIPOLE: Final[str] = "dipole"  # (B, 3) | e·Å, molecular dipole (= polarization for open systems)
