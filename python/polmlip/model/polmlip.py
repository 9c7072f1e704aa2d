"""`PolMLIP`: short-range equivariant network + latent multipoles + linear response.

Per frame b the electric enthalpy is

    U = Σ_i ε_i + E_perm + ΔE_q + ΔE_μ − E_ext·P_perm,

with E_perm the Gaussian-site electrostatics of the permanent multipoles (q, μ, Θ),
ΔE_q, ΔE_μ the non-self-consistent response energies and P_perm = Σ q r + Σ μ.
Forces, stress and Born charges come from autograd of U in one pass. In periodic
frames the field term is not a single-valued function of positions; there the
field force is Z*ᵀE_ext from the phase-form polarization (see
:mod:`polmlip.electrostatics.polarization`), and −E_ext·P_perm enters the
reported energy without gradient.
"""

from typing import Dict, List, Optional

import torch
from e3nn.util.jit import compile_mode

from .. import keys
from ..electrostatics import (
    MultipoleElectrostatics,
    born_charges,
    field_forces,
    global_sum,
    induced_charges,
    induced_dipoles,
    open_polarization,
    periodic_polarization,
)
from ..nn.body import EquivariantBody
from ..nn.heads import MultipoleHeads
from .config import ModelConfig


@compile_mode("script")
class PolMLIP(torch.nn.Module):
    """The polmlip potential on batched graphs (see :mod:`polmlip.keys` for the fields)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.validate()
        self.config_dict = config.to_dict()
        n = len(config.elements)
        self.body = EquivariantBody(
            n,
            config.channels,
            config.lmax,
            config.num_layers,
            config.cutoff,
            config.num_basis,
            config.radial_hidden,
            config.avg_neighbors,
        )
        self.heads = MultipoleHeads(
            self.body.irreps_out,
            config.charges,
            config.dipoles,
            config.quadrupoles,
            config.induced_charges,
            config.induced_dipoles,
            config.anisotropic_alpha,
        )
        self.electrostatics = MultipoleElectrostatics(
            sigma=config.sigma,
            method=config.kspace_method,
            accuracy=config.kspace_accuracy,
            spline_order=config.spline_order,
        )
        self.register_buffer("energy_shift", torch.zeros(n))
        self.register_buffer("energy_scale", torch.ones(()))
        self.use_charges = config.charges
        self.use_dipoles = config.dipoles
        self.use_quadrupoles = config.quadrupoles
        self.use_induced_charges = config.induced_charges
        self.use_induced_dipoles = config.induced_dipoles
        self.long_range = config.long_range
        self.charge_conservation = config.charge_conservation
        self.cutoff = float(config.cutoff)

    def forward(
        self,
        data: Dict[str, torch.Tensor],
        compute_forces: bool = True,
        compute_stress: bool = False,
        compute_bec: bool = False,
        create_graph: bool = False,
    ) -> Dict[str, torch.Tensor]:
        """Evaluate a batch of frames.

        Args:
            data: graph dict with ``species, positions, edge_index, edge_shift, batch, cell,
                pbc, external_field, total_charge`` (shapes in :mod:`polmlip.keys`).
            compute_forces / compute_stress / compute_bec: requested derivatives.
            create_graph: keep the graph of the derivatives (training on forces, BECs).

        Returns:
            dict with ``energy`` (B,) and per-atom/per-frame outputs listed in :mod:`keys`.
        """
        pos = data[keys.POSITIONS]
        batch = data[keys.BATCH]
        cell = data[keys.CELL]
        nframes = cell.shape[0]
        need_grad = compute_forces or compute_stress or compute_bec
        strain = torch.zeros((nframes, 3, 3), dtype=pos.dtype, device=pos.device)
        if need_grad:
            pos = pos.detach().requires_grad_(True)
            if compute_stress:
                strain.requires_grad_(True)
        pos_s = pos + torch.einsum("ni,nij->nj", pos, strain[batch])
        cell_s = cell + torch.bmm(cell, strain)
        edge_index = data[keys.EDGE_INDEX]
        shift = torch.einsum(
            "ei,eij->ej", data[keys.EDGE_SHIFT].to(pos.dtype), cell_s[batch[edge_index[0]]]
        )
        vectors = pos_s[edge_index[1]] - pos_s[edge_index[0]] + shift

        h = self.body(data[keys.SPECIES], vectors, edge_index)
        heads = self.heads(h)
        species = data[keys.SPECIES]
        atomic = heads["energy"] * self.energy_scale + self.energy_shift[species].to(pos.dtype)
        n_local = pos.shape[0]
        if keys.NUM_LOCAL in data:
            n_local = int(data[keys.NUM_LOCAL][0])
            if nframes != 1:
                raise ValueError("polmlip: ghost atoms are supported for single frames only")
        energy = torch.zeros(nframes, dtype=pos.dtype, device=pos.device)
        energy = energy.index_add(0, batch[:n_local], atomic[:n_local])
        out: Dict[str, torch.Tensor] = {keys.ATOMIC_ENERGY: atomic[:n_local]}
        reported_extra = torch.zeros_like(energy)
        periodic_field_force = torch.zeros_like(pos)
        if self.long_range or self.use_induced_dipoles:
            lr = self._long_range(
                pos_s,
                cell_s,
                batch,
                data,
                heads,
                n_local,
                compute_forces,
                compute_bec,
                create_graph,
            )
            energy = energy + lr["energy"]
            reported_extra = lr["energy_nograd"]
            periodic_field_force = lr["field_force"]
            for k, v in lr.items():
                if k not in ("energy", "energy_nograd", "field_force"):
                    out[k] = v
        out[keys.ENERGY] = energy + reported_extra.detach()
        if need_grad:
            inputs: List[torch.Tensor] = [pos]
            if compute_stress:
                inputs.append(strain)
            grads = torch.autograd.grad(
                [energy.sum()], inputs, create_graph=create_graph, allow_unused=True
            )
            g0 = grads[0]
            forces = -g0 if g0 is not None else torch.zeros_like(pos)
            out[keys.FORCES] = forces + periodic_field_force
            if compute_stress:
                g1 = grads[1]
                virial = -g1 if g1 is not None else torch.zeros_like(strain)
                volume = torch.abs(torch.linalg.det(cell))
                out[keys.VIRIAL] = virial
                out[keys.STRESS] = -virial / volume[:, None, None]
        return out

    def _long_range(
        self,
        pos: torch.Tensor,
        cell: torch.Tensor,
        batch: torch.Tensor,
        data: Dict[str, torch.Tensor],
        heads: Dict[str, torch.Tensor],
        n_local: int,
        compute_forces: bool,
        compute_bec: bool,
        create_graph: bool,
    ) -> Dict[str, torch.Tensor]:
        """Long-range terms of the local atoms (the first ``n_local``; the rest are ghosts)."""
        nframes = cell.shape[0]
        n = pos.shape[0]
        zeros_n = torch.zeros(n, dtype=pos.dtype, device=pos.device)
        q_all = heads["q"] if self.use_charges else zeros_n
        total_charge = data[keys.TOTAL_CHARGE].to(pos.dtype)
        field_ext = data[keys.EXTERNAL_FIELD].to(pos.dtype)
        pbc = data[keys.PBC]
        energies: List[torch.Tensor] = []
        extra: List[torch.Tensor] = []
        charges: List[torch.Tensor] = []
        q_ind_l: List[torch.Tensor] = []
        mu_ind_l: List[torch.Tensor] = []
        phi_l: List[torch.Tensor] = []
        field_l: List[torch.Tensor] = []
        pol_l: List[torch.Tensor] = []
        bec_l: List[torch.Tensor] = []
        field_force = torch.zeros_like(pos)
        alpha_l: List[torch.Tensor] = []
        for b in range(nframes):
            idx = torch.nonzero(batch[:n_local] == b).flatten()
            p = pos[idx]
            c = cell[b]
            periodic = bool(pbc[b])
            q = q_all[idx]
            if self.use_charges and self.charge_conservation:
                counts = global_sum(torch.stack([q.sum(), torch.ones_like(q).sum()]))
                q = q - (counts[0] - total_charge[b]) / counts[1]
            mu: Optional[torch.Tensor] = heads["mu"][idx] if self.use_dipoles else None
            th: Optional[torch.Tensor] = heads["theta"][idx] if self.use_quadrupoles else None
            e_site, phi, efield, _ = self.electrostatics(
                p, c, periodic, q, mu, th, self.use_quadrupoles
            )
            e_b = e_site.sum()
            q_tot = q
            mu_tot = mu if mu is not None else torch.zeros_like(p)
            if self.use_induced_charges:
                q_ind, e_q = induced_charges(phi, heads["kappa"][idx])
                e_b = e_b + e_q.sum()
                q_tot = q + q_ind
                q_ind_l.append(q_ind)
            if self.use_induced_dipoles:
                alpha = heads["alpha"][idx]
                mu_ind, e_mu = induced_dipoles(efield, field_ext[b], alpha)
                e_b = e_b + e_mu.sum()
                mu_tot = mu_tot + mu_ind
                mu_ind_l.append(mu_ind)
                if alpha.dim() == 1:
                    alpha_l.append(alpha.sum() * torch.eye(3, dtype=p.dtype, device=p.device))
                else:
                    alpha_l.append(alpha.sum(0))
            # applied field acting on the permanent multipoles
            if periodic:
                # this process's share of −E·P_perm (each rank adds its own sites once)
                p_perm = periodic_polarization(p, c, q, mu, False)
                extra.append(-(field_ext[b] * p_perm).sum())
                if compute_forces and bool((field_ext[b] != 0).any()):
                    # against all positions (ghosts included): q and μ flux through the network
                    field_force = field_force + field_forces(
                        p, c, True, q, mu, field_ext[b], False, create_graph, pos
                    )
                pol_l.append(periodic_polarization(p, c, q_tot, mu_tot))
            else:
                p_perm = open_polarization(p, q, mu, False)
                e_b = e_b - (field_ext[b] * p_perm).sum()
                extra.append(torch.zeros_like(e_b))
                pol_l.append(open_polarization(p, q_tot, mu_tot))
            if compute_bec:
                # against all positions, so Z* has the charge/dipole flux of the network.
                # Engine frames (one frame, maybe with ghosts) keep a row per graph atom: an
                # engine adds each ghost row to the atom it images. Batches keep their rows.
                z = born_charges(p, c, periodic, q_tot, mu_tot, False, create_graph, pos)
                bec_l.append(z if keys.NUM_LOCAL in data else z[idx])
            energies.append(e_b)
            charges.append(q)
            phi_l.append(phi)
            field_l.append(efield)
        out: Dict[str, torch.Tensor] = {
            "energy": torch.stack(energies),
            "energy_nograd": torch.stack(extra),
            "field_force": field_force,
            keys.CHARGES: torch.cat(charges),
            keys.POTENTIAL: torch.cat(phi_l),
            keys.FIELD: torch.cat(field_l),
            keys.POLARIZATION: torch.stack(pol_l),
        }
        if self.use_dipoles:
            out[keys.DIPOLES] = heads["mu"][:n_local]
        if self.use_quadrupoles:
            out[keys.QUADRUPOLES] = heads["theta"][:n_local]
        if self.use_induced_charges:
            out[keys.INDUCED_CHARGES] = torch.cat(q_ind_l)
        if self.use_induced_dipoles:
            out[keys.INDUCED_DIPOLES] = torch.cat(mu_ind_l)
            out[keys.POLARIZABILITY] = torch.stack(alpha_l)
        if compute_bec:
            out[keys.BEC] = torch.cat(bec_l)
        return out
