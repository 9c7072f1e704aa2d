"""Read-outs of per-atom energies, latent multipoles and response coefficients."""

from typing import Dict

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

from .. import keys


@compile_mode("script")
class MultipoleHeads(torch.nn.Module):
    """Linear equivariant read-outs from features h_i.

    Reads ``node_features`` (N, F) and ``species`` (N,); writes (heads switched off are
    absent, keys from :mod:`polmlip.keys`):

    * ``raw_atomic_energy`` (N,) from 0e (scaled and shifted by the energy sum);
    * ``latent_charges`` (N,) e from 0e and ``baseline_charges`` (N,) e, a learnable
      per-element constant (the geometry-independent charge of bond conservation);
    * ``permanent_dipoles`` (N, 3) e·Å from 1o;
      ``quadrupoles`` (N, 3, 3) e·Å² traceless symmetric from 2e;
    * ``charge_susceptibility`` κ (N,) e/V ≥ 0 (softplus of 0e);
    * ``dipole_polarizability`` α (N,) e·Å²/V ≥ 0 isotropic, or (N, 3, 3) = A Aᵀ with
      A = a I + T(2e) symmetric, hence positive semidefinite (anisotropic).

    Each output is scaled by a fixed typical magnitude so that initial values are physical;
    the permanent multipoles carry a global sign (``multipole_sign``, see
    :mod:`polmlip.train.orient`).
    """

    inputs = (keys.NODE_FEATURES, keys.SPECIES, keys.POSITIONS)
    outputs = (
        keys.RAW_ATOMIC_ENERGY,
        keys.LATENT_CHARGES,
        keys.BASELINE_CHARGES,
        keys.PERMANENT_DIPOLES,
        keys.QUADRUPOLES,
        keys.CHARGE_SUSCEPTIBILITY,
        keys.DIPOLE_POLARIZABILITY,
    )

    def __init__(
        self,
        irreps_in: o3.Irreps,
        num_species: int,
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
        # per-element charge baseline of bond conservation (e), geometry-independent
        self.element_charge = torch.nn.Parameter(torch.zeros(num_species))
        self.n_scalar = n_scalar
        # typical magnitudes of κ (e/V) and of the scalar α (e·Å²/V) at a softplus of one
        self.kappa_scale = 0.01
        self.alpha_scale = 0.02

    def forward(self, data: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        y = self.linear(data[keys.NODE_FEATURES])
        out: Dict[str, torch.Tensor] = {}
        s = y[:, : self.n_scalar]
        k = 1
        out[keys.RAW_ATOMIC_ENERGY] = s[:, 0]
        if self.charges:
            out[keys.LATENT_CHARGES] = 0.5 * self.multipole_sign * s[:, k]
            k += 1
        sign = self.multipole_sign.to(y.dtype)
        out[keys.BASELINE_CHARGES] = self.element_charge.to(y.dtype)[data[keys.SPECIES]] * sign
        if self.induced_charges:
            out[keys.CHARGE_SUSCEPTIBILITY] = self.kappa_scale * torch.nn.functional.softplus(
                s[:, k]
            )
            k += 1
        iso_alpha = torch.zeros_like(s[:, 0])
        if self.induced_dipoles:
            iso_alpha = self.alpha_scale * torch.nn.functional.softplus(s[:, k])
            k += 1
        pos = self.n_scalar
        if self.dipoles:
            out[keys.PERMANENT_DIPOLES] = 0.2 * self.multipole_sign * y[:, pos : pos + 3]
            pos += 3
        c = self.l2_to_matrix.to(y.dtype)
        if self.quadrupoles:
            out[keys.QUADRUPOLES] = (
                0.3 * self.multipole_sign * torch.einsum("nk,kij->nij", y[:, pos : pos + 5], c)
            )
            pos += 5
        if self.induced_dipoles:
            if self.anisotropic_alpha:
                t = 0.1 * torch.einsum("nk,kij->nij", y[:, pos : pos + 5], c)
                eye = torch.eye(3, dtype=y.dtype, device=y.device)
                a = torch.sqrt(iso_alpha)[:, None, None] * eye + t
                out[keys.DIPOLE_POLARIZABILITY] = a @ a.transpose(1, 2)
            else:
                out[keys.DIPOLE_POLARIZABILITY] = iso_alpha
        # in the precision of the geometry and the long range (a mixed-precision model runs
        # the network in float32)
        target = data[keys.POSITIONS].dtype
        for name, value in out.items():
            data[name] = value.to(target)
        return data
