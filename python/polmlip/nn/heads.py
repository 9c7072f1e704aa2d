"""Read-outs of per-atom energies, latent multipoles and response coefficients."""

from typing import Dict

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode


@compile_mode("script")
class MultipoleHeads(torch.nn.Module):
    """Linear equivariant read-outs from features h_i.

    Outputs (keys of the returned dict; heads switched off are absent):

    * ``energy`` (N,) eV from 0e;
    * ``q`` (N,) e from 0e; ``mu`` (N, 3) e·Å from 1o;
      ``theta`` (N, 3, 3) e·Å² traceless symmetric from 2e;
    * ``kappa`` (N,) e/V ≥ 0 (softplus of 0e);
    * ``alpha`` (N,) e·Å²/V ≥ 0 isotropic, or (N, 3, 3) = A Aᵀ with A = a I + T(2e)
      symmetric, hence positive semidefinite (anisotropic).

    Each output is scaled by a fixed typical magnitude so that initial values are physical.
    """

    def __init__(
        self,
        irreps_in: o3.Irreps,
        charges: bool,
        dipoles: bool,
        quadrupoles: bool,
        induced_charges: bool,
        induced_dipoles: bool,
        anisotropic_alpha: bool,
    ) -> None:
        super().__init__()
        has_l1 = any(ir.l == 1 and ir.p == -1 for _, ir in irreps_in)
        has_l2 = any(ir.l == 2 and ir.p == 1 for _, ir in irreps_in)
        if (dipoles and not has_l1) or ((quadrupoles or anisotropic_alpha) and not has_l2):
            raise ValueError(
                "polmlip: dipole heads need lmax ≥ 1 and quadrupole/anisotropic-α heads lmax ≥ 2"
            )
        self.charges = charges
        self.dipoles = dipoles
        self.quadrupoles = quadrupoles
        self.induced_charges = induced_charges
        self.induced_dipoles = induced_dipoles
        self.anisotropic_alpha = anisotropic_alpha and induced_dipoles
        n_scalar = 1 + int(charges) + int(induced_charges) + int(induced_dipoles)
        out = [f"{n_scalar}x0e"]
        if dipoles:
            out.append("1x1o")
        n_l2 = int(quadrupoles) + int(self.anisotropic_alpha)
        if n_l2 > 0:
            out.append(f"{n_l2}x2e")
        self.irreps_out = o3.Irreps("+".join(out))
        self.linear = o3.Linear(irreps_in, self.irreps_out)
        cob = o3.ReducedTensorProducts("ij=ji", i="1o").change_of_basis  # (6, 3, 3): 0e + 2e
        self.register_buffer("l2_to_matrix", cob[1:].clone())
        # ±1: global sign of the permanent multipoles (see polmlip.train.orient)
        self.register_buffer("multipole_sign", torch.ones(()))
        self.n_scalar = n_scalar

    def forward(self, h: torch.Tensor) -> Dict[str, torch.Tensor]:
        y = self.linear(h)
        out: Dict[str, torch.Tensor] = {}
        s = y[:, : self.n_scalar]
        k = 1
        out["energy"] = s[:, 0]
        if self.charges:
            out["q"] = 0.5 * self.multipole_sign * s[:, k]
            k += 1
        if self.induced_charges:
            out["kappa"] = 0.01 * torch.nn.functional.softplus(s[:, k])
            k += 1
        iso_alpha = torch.zeros_like(s[:, 0])
        if self.induced_dipoles:
            iso_alpha = 0.02 * torch.nn.functional.softplus(s[:, k])
            k += 1
        pos = self.n_scalar
        if self.dipoles:
            out["mu"] = 0.2 * self.multipole_sign * y[:, pos : pos + 3]
            pos += 3
        c = self.l2_to_matrix.to(y.dtype)
        if self.quadrupoles:
            out["theta"] = (
                0.3 * self.multipole_sign * torch.einsum("nk,kij->nij", y[:, pos : pos + 5], c)
            )
            pos += 5
        if self.induced_dipoles:
            if self.anisotropic_alpha:
                t = 0.1 * torch.einsum("nk,kij->nij", y[:, pos : pos + 5], c)
                eye = torch.eye(3, dtype=y.dtype, device=y.device)
                a = torch.sqrt(iso_alpha)[:, None, None] * eye + t
                out["alpha"] = a @ a.transpose(1, 2)
            else:
                out["alpha"] = iso_alpha
        return out
