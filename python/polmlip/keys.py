"""Names of the fields that flow through polmlip: graphs, model outputs, data, metadata.

Each constant documents the shape and unit of the tensor stored under it. This file is the
one source of these names: the C++ plugins read them from a header generated from it
(``scripts/contract_header.py``), and the engine contract (:mod:`polmlip.export.contract`)
declares which of them an exported model takes and returns.
"""

from typing import Final

# ---- the exported file ----
FORMAT_VERSION: Final[int] = 2  # 2: one dict in, one dict out (1: positional arguments)
METADATA_FILE: Final[str] = "polmlip_metadata.json"  # the metadata's name in _extra_files

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
# (1,) int64 | engine frames: atoms [n_local:] are ghosts, which take their owners' per-atom
# values through polmlip::halo (cpp/ops/halo.h)
NUM_LOCAL: Final[str] = "num_local"

# ---- model outputs ----
ENERGY: Final[str] = "energy"  # (B,) | eV (electric enthalpy under a field)
ATOMIC_ENERGY: Final[str] = "atomic_energy"  # (N,) | eV, short-range part incl. shifts
FORCES: Final[str] = "forces"  # (N, 3) | eV/Å
STRESS: Final[str] = "stress"  # (B, 3, 3) | eV/Å³, stress = −virial / V
VIRIAL: Final[str] = "virial"  # (B, 3, 3) | eV
PERMANENT_CHARGES: Final[str] = "permanent_charges"  # (N,) | e, latent charges after conservation
INDUCED_CHARGES: Final[str] = "induced_charges"  # (N,) | e
CHARGES: Final[str] = "charges"  # (N,) | e, permanent + induced: the charge an atom carries
# (N,) | e, the geometry-independent part of q; P holds Σ q_site r of the coordinates the engine
# passes, so an engine that wraps atoms adds Σ q_site (r_unwrapped − r) to P (and −E· that to U)
SITE_CHARGES: Final[str] = "site_charges"
PERMANENT_DIPOLES: Final[str] = "permanent_dipoles"  # (N, 3) | e·Å, latent dipoles
INDUCED_DIPOLES: Final[str] = "induced_dipoles"  # (N, 3) | e·Å
DIPOLES: Final[str] = "dipoles"  # (N, 3) | e·Å, permanent + induced point dipoles
QUADRUPOLES: Final[str] = "quadrupoles"  # (N, 3, 3) | e·Å², traceless
POTENTIAL: Final[str] = "potential"  # (N,) | V, of the permanent multipoles
FIELD: Final[str] = "field"  # (N, 3) | V/Å, of the permanent multipoles
POLARIZATION: Final[str] = "polarization"  # (B, 3) | e·Å (total: permanent + induced)
BEC: Final[str] = "bec"  # (N, 3, 3) | e, Z*_i,βγ = ∂P_β/∂r_iγ; engine frames: a row per graph atom
# (B, 3, 3) | e·Å²/V, ∂P_β/∂E_γ at fixed nuclei through every response channel (= −∂²U/∂E²)
POLARIZABILITY: Final[str] = "polarizability"
# (N, 3, 3) | e·Å²/V, ∂P_β/∂E_i,γ: the change of the total P when the applied field changes at
# atom i only (the bond response counts at each bond's receiving atom); Σ_i = polarizability
ATOMIC_POLARIZABILITY: Final[str] = "atomic_polarizability"
ELECTROSTATIC_ENERGY: Final[str] = "electrostatic_energy"  # (B,) | eV, permanent multipoles
RESPONSE_ENERGY: Final[str] = "response_energy"  # (B,) | eV, ΔE_q + ΔE_μ
FIELD_ENERGY: Final[str] = "field_energy"  # (B,) | eV, −E_ext·P_perm

# ---- intermediate values between the model's modules (never leave the model) ----
STRAIN: Final[str] = "strain"  # (B, 3, 3) | dimensionless, zero; ∂U/∂strain = −virial
STRAINED_POSITIONS: Final[str] = "strained_positions"  # (N, 3) | Å, r (1 + strain)
STRAINED_CELL: Final[str] = "strained_cell"  # (B, 3, 3) | Å, cell (1 + strain)
EDGE_VECTORS: Final[str] = "edge_vectors"  # (E, 3) | Å, r_j − r_i + S·cell (strained)
NODE_FEATURES: Final[str] = "node_features"  # (N, F) | equivariant features of the body
RAW_ATOMIC_ENERGY: Final[str] = "raw_atomic_energy"  # (N,) | unscaled energy read-out
LATENT_CHARGES: Final[str] = "latent_charges"  # (N,) | e, the charge head before conservation
BASELINE_CHARGES: Final[str] = "baseline_charges"  # (N,) | e, per-element constant of bond mode
CHARGE_SUSCEPTIBILITY: Final[str] = "charge_susceptibility"  # (N,) | e/V, κ ≥ 0
# (N,) or (N, 3, 3) | e·Å²/V, the induced-dipole head's α_i (isotropic or full), μ_ind = α_i E
DIPOLE_POLARIZABILITY: Final[str] = "dipole_polarizability"
# (N, 3) | V/Å, the applied field at each graph atom (E_ext of its frame): the leaf that the
# polarizability differentiates when it is requested
APPLIED_FIELD_AT_SITES: Final[str] = "applied_field_at_sites"
BOND_DIPOLES: Final[str] = "bond_dipoles"  # (N, 3) | e·Å, per-atom share of the bond charges' P
# (B, 3) | e·Å, this process's share of P (local atoms): the Born charges differentiate it
POLARIZATION_SHARE: Final[str] = "polarization_share"
# (B, 3) | e·Å, this process's share of the induced multipoles' polarization
INDUCED_POLARIZATION_SHARE: Final[str] = "induced_polarization_share"
# (B, 3) | dimensionless, one direction v per frame with E[v vᵀ] = I (training only): the
# model then returns the projection vᵀZ*_i instead of Z*_i, one backward pass instead of three
BEC_PROJECTION: Final[str] = "bec_projection"
PROJECTED_BEC: Final[str] = "projected_bec"  # (N, 3) | e, Σ_β v_β Z*_i,βγ of its frame's v

# ---- per-frame data keys (reference values in datasets) ----
DIPOLE: Final[str] = "dipole"  # (B, 3) | e·Å, molecular dipole (= polarization for open systems)
# a reference value of a property is stored under REFERENCE_PREFIX + its name
REFERENCE_PREFIX: Final[str] = "ref_"
# a batch whose frames do not all have a reference property marks the frames that have it:
# TARGET_MASK_PREFIX + its name, (B,) bool (polmlip.data.targets)
TARGET_MASK_PREFIX: Final[str] = "has_"
REF_ENERGY: Final[str] = "ref_energy"  # (B,) | eV
REF_FORCES: Final[str] = "ref_forces"  # (N, 3) | eV/Å
REF_STRESS: Final[str] = "ref_stress"  # (B, 3, 3) | eV/Å³
REF_DIPOLE: Final[str] = "ref_dipole"  # (B, 3) | e·Å
REF_POLARIZATION: Final[str] = "ref_polarization"  # (B, 3) | e·Å
REF_BEC: Final[str] = "ref_bec"  # (N, 3, 3) | e
REF_CHARGES: Final[str] = "ref_charges"  # (N,) | e
REF_POLARIZABILITY: Final[str] = "ref_polarizability"  # (B, 3, 3) | e·Å²/V, ∂μ/∂E at fixed nuclei

#: How the 9 numbers of a Born charge tensor are ordered in a file (row-major):
#: ``polarization-major`` Z*_βγ = ∂P_β/∂r_γ at position 3β + γ (polmlip's own, ``polmlip
#: datagen``); ``displacement-major`` the transpose, ∂P_β/∂r_γ at 3γ + β (the SPICE sets
#: of ``../shared/data``, and codes that store ∂F_γ/∂E_β by field direction last).
BEC_LAYOUTS = ("polarization-major", "displacement-major")
