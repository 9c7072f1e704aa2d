"""Multipole algebra shared by every summation method.

Conventions (see ``docs/conventions.md``): site j carries a charge q (e), a dipole
μ (e·Å) and a traceless symmetric quadrupole Θ (e·Å², primitive convention, the
traceless part of Σ q x_a x_b). Its charge density is q δ − μ·∇δ + ½ Θ:∇∇δ.

At every site we return, with the site's own contribution excluded:

* the potential φ_i = ∂E/∂q_i (V),
* the field E_i = −∂E/∂μ_i = −∇φ (V/Å),
* the field gradient G_i,ab = ∂_a E_b = −2 ∂E/∂Θ_i,ab (V/Å²).

The electrostatic energy is then exactly ``½ Σ_i (q_i φ_i − μ_i·E_i − ½ Θ_i:G_i)``.
"""

import math
from typing import Optional, Tuple

import torch


def traceless(theta: torch.Tensor) -> torch.Tensor:
    """Symmetric traceless part of (N, 3, 3) tensors."""
    sym = 0.5 * (theta + theta.transpose(1, 2))
    tr = torch.diagonal(sym, dim1=1, dim2=2).sum(-1)
    eye = torch.eye(3, dtype=theta.dtype, device=theta.device)
    return sym - (tr / 3.0)[:, None, None] * eye


def pair_fields(
    R: torch.Tensor,
    B: torch.Tensor,
    q: torch.Tensor,
    mu: Optional[torch.Tensor],
    theta: Optional[torch.Tensor],
    need_gradient: bool,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Potential, field and field gradient at receivers from point-multipole sources.

    Args:
        R: (P, 3) receiver minus source position, Å.
        B: (n, P) radial functions B_0..B_{n-1} of the kernel (see :mod:`kernels`);
            n must be ≥ 3 (+1 with μ, +1 more with Θ when ``need_gradient``).
        q: (P,) source charges.
        mu: (P, 3) source dipoles or None.
        theta: (P, 3, 3) traceless source quadrupoles or None.
        need_gradient: also compute the field gradient (else zeros).

    Returns:
        φ (P,), E (P, 3), G (P, 3, 3) at the receivers, per unit Coulomb constant.
    """
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    RR = R[:, :, None] * R[:, None, :]
    phi = q * B[0]
    E = (q * B[1])[:, None] * R
    G = torch.zeros_like(RR)
    if need_gradient:
        G = q[:, None, None] * (B[1][:, None, None] * eye - B[2][:, None, None] * RR)
    if mu is not None:
        Rmu = (R * mu).sum(-1)
        phi = phi + Rmu * B[1]
        E = E - B[1][:, None] * mu + (Rmu * B[2])[:, None] * R
        if need_gradient:
            muR = mu[:, :, None] * R[:, None, :]
            G = G + B[2][:, None, None] * (Rmu[:, None, None] * eye + muR + muR.transpose(1, 2))
            G = G - (Rmu * B[3])[:, None, None] * RR
    if theta is not None:
        ThR = torch.einsum("pab,pb->pa", theta, R)
        RThR = (ThR * R).sum(-1)
        phi = phi + 0.5 * RThR * B[2]
        E = E - B[2][:, None] * ThR + (0.5 * RThR * B[3])[:, None] * R
        if need_gradient:
            TR = ThR[:, :, None] * R[:, None, :]
            G = G - B[2][:, None, None] * theta
            G = G + (0.5 * B[3])[:, None, None] * (
                RThR[:, None, None] * eye + 2.0 * (TR + TR.transpose(1, 2))
            )
            G = G - (0.5 * RThR * B[4])[:, None, None] * RR
    return phi, E, G


def kernel_order(has_mu: bool, has_theta: bool, need_gradient: bool) -> int:
    """Highest radial order B_n that :func:`pair_fields` needs."""
    n = 2
    if has_mu:
        n = 3 if need_gradient else 2
    if has_theta:
        n = 4 if need_gradient else 3
    return n


def gaussian_self_terms(
    q: torch.Tensor,
    mu: Optional[torch.Tensor],
    theta: Optional[torch.Tensor],
    width: float,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Self contributions that a full reciprocal sum wrongly includes, per unit k_e.

    For the k-space weight exp(−s²k²/2)/k² (pair kernel erf(r/(√2 s))/r), the
    self energy of a site is (1/√(2π)) [q²/s + |μ|²/(3 s³) + Θ:Θ/(10 s⁵)].
    Returned are its contributions to φ, E and G that must be *added* to the
    reciprocal-space values: −∂E_self/∂q, +∂E_self/∂μ and +2 ∂E_self/∂Θ.

    Returns:
        dφ (N,), dE (N, 3), dG (N, 3, 3).
    """
    c = 1.0 / math.sqrt(2.0 * math.pi)
    dphi = -2.0 * c * q / width
    dE = torch.zeros((q.shape[0], 3), dtype=q.dtype, device=q.device)
    dG = torch.zeros((q.shape[0], 3, 3), dtype=q.dtype, device=q.device)
    if mu is not None:
        dE = 2.0 * c * mu / (3.0 * width**3)
    if theta is not None:
        dG = 2.0 * c * theta / (5.0 * width**5)
    return dphi, dE, dG


def site_energies(
    q: torch.Tensor,
    mu: Optional[torch.Tensor],
    theta: Optional[torch.Tensor],
    phi: torch.Tensor,
    E: torch.Tensor,
    G: torch.Tensor,
) -> torch.Tensor:
    """Per-site energies ``½ (q φ − μ·E − ½ Θ:G)`` (N,) in the units of φ·e (eV)."""
    u = q * phi
    if mu is not None:
        u = u - (mu * E).sum(-1)
    if theta is not None:
        u = u - 0.5 * (theta * G).sum((-1, -2))
    return 0.5 * u
