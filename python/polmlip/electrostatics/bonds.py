"""Local charge conservation by bond-charge increments, and the local polarization.

Charges live on the bonds of the graph (the directed edges e = (i, j) within the
model cutoff, with graph vectors v_e = r_j − r_i + S·cell):

    t_e = w(|v_e|) (a_i − a_j),        q_i = Q/N + Σ_{e=(i,·)} t_e,

with a_i a latent scalar per atom (the charge head) and w a radial weight that goes
smoothly to zero at the cutoff (the model's, :class:`polmlip.nn.bond_weight.BondWeight`;
this module is parameter-free). t is antisymmetric (t_ji = −t_ij), so
Σ_i q_i = Q exactly, and each q_i depends on its own neighbourhood only.

The polarization of the bond charges is a sum over edges of image-independent terms,

    P_bond = Σ_i q_i r_i − (Q/N) Σ_i r_i = −½ Σ_e t_e v_e = Σ_i d_i,   d_i = −½ Σ_{e=(i,·)} t_e v_e,

exact in open boundaries and well defined in periodic cells, where Σ q r is not. Its
derivative is the Born charge of the local-flux form (``docs/conventions.md``):
∂P_bond/∂r_i = q_i I + Σ_j v_ij ⊗ ∂q_j/∂r_i, so Σ_i Z*_i = Q I and F_i = Z*_iᵀE follow
from autograd of −E·P, which is a single-valued function of the configuration.

Induced bond charges respond to the potential difference along each bond, the
applied field included (φ_ext,i − φ_ext,j = E·v_ij is image-independent):

    t_ind,e = −κ_e (φ_i − φ_j + E·v_e),  κ_e = w_κ(|v_e|) (κ_i + κ_j)/2 ≥ 0,
    ΔE_q = −¼ Σ_e κ_e (φ_i − φ_j + E·v_e)²   (each bond appears as two directed edges).

Units: charges e, lengths Å, potentials V, κ e/V, energies eV, dipoles e·Å.
"""

from typing import Tuple

import torch


def bond_sum(values: torch.Tensor, edge_index: torch.Tensor, n: int) -> torch.Tensor:
    """Σ over the edges leaving each atom: (E, ...) → (n, ...)."""
    out = torch.zeros((n,) + values.shape[1:], dtype=values.dtype, device=values.device)
    return out.index_add(0, edge_index[0], values)


def bond_charges(a: torch.Tensor, weight: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
    """Antisymmetric bond charges t_e = w_e (a_i − a_j) (E,) in e from latent a (N,)."""
    return weight * (a[edge_index[0]] - a[edge_index[1]])


def bond_dipoles(
    t: torch.Tensor, vectors: torch.Tensor, edge_index: torch.Tensor, n: int
) -> torch.Tensor:
    """Per-atom shares d_i = −½ Σ_{e=(i,·)} t_e v_e (n, 3) e·Å of the bond polarization."""
    return bond_sum(-0.5 * t[:, None] * vectors, edge_index, n)


def induced_bond_charges(
    phi: torch.Tensor,
    kappa: torch.Tensor,
    weight: torch.Tensor,
    vectors: torch.Tensor,
    edge_index: torch.Tensor,
    external_field: torch.Tensor,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Induced bond charges and the per-edge response energies.

    Args:
        phi: (M,) potential of the permanent multipoles at every graph atom, V.
        kappa: (M,) non-negative response coefficients, e/V.
        weight: (E,) radial bond weights in [0, ∞). vectors: (E, 3) v_e in Å.
        edge_index: (2, E). external_field: (E, 3) V/Å, the applied field of each edge's frame.

    Returns:
        t_ind (E,) e, antisymmetric; edge energies (E,) eV whose sum is ΔE_q.
    """
    i, j = edge_index[0], edge_index[1]
    k_e = weight * 0.5 * (kappa[i] + kappa[j])
    drive = phi[i] - phi[j] + (vectors * external_field).sum(-1)
    return -k_e * drive, -0.25 * k_e * drive * drive
