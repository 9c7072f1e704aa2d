"""Non-self-consistent linear response: induced charges and induced dipoles.

Induced multipoles respond to the potential and field of the *permanent*
multipoles only (no SCF loop) and do not act on each other.

* Induced charges: q_ind,i = −κ_i (φ_i − λ), λ = Σκφ / Σκ, so Σ q_ind = 0 exactly.
  Energy ΔE_q = −½ Σ κ_i (φ_i − λ)².
* Induced dipoles: μ_ind,i = α_i E_i^tot with E^tot = E + E_ext. Energy
  ΔE_μ = −½ Σ E_i^tot · α_i E_i^tot. α_i is isotropic (N,) or a tensor (N, 3, 3)
  that the caller keeps symmetric positive semidefinite.

Units: κ in e/V, α in e·Å²/V (μ[e·Å] = α E[V/Å]); energies in eV.
"""

from typing import Tuple

import torch

from .comm import global_sum


def induced_charges(phi: torch.Tensor, kappa: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Charge-conserving induced charges and their per-site energies.

    Args:
        phi: (N,) potential of the permanent multipoles at each site, V.
        kappa: (N,) non-negative charge response coefficients, e/V.

    Returns:
        q_ind (N,) e, summing to zero over all sites (all ranks);
        site energies (N,) eV whose sum is ΔE_q.
    """
    sums = global_sum(torch.stack([(kappa * phi).sum(), kappa.sum()]))
    denom = torch.where(sums[1] > 0, sums[1], torch.ones_like(sums[1]))
    lam = sums[0] / denom
    dphi = phi - lam
    return -kappa * dphi, -0.5 * kappa * dphi * dphi


def induced_dipoles(
    field: torch.Tensor, external_field: torch.Tensor, alpha: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Induced dipoles in the total field and their per-site energies.

    Args:
        field: (N, 3) field of the permanent multipoles at each site, V/Å.
        external_field: (3,) applied uniform field, V/Å.
        alpha: (N,) isotropic or (N, 3, 3) tensor polarizabilities, e·Å²/V.

    Returns:
        μ_ind (N, 3) e·Å; site energies (N,) eV whose sum is ΔE_μ.
    """
    total = field + external_field
    if alpha.dim() == 1:
        mu_ind = alpha[:, None] * total
    else:
        mu_ind = torch.einsum("nab,nb->na", alpha, total)
    return mu_ind, -0.5 * (total * mu_ind).sum(-1)
