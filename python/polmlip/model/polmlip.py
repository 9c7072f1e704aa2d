"""`PolMLIP`: short-range equivariant network + latent multipoles + linear response.

Per frame b the electric enthalpy is

    U = Σ_i ε_i + E_perm + ΔE_q + ΔE_μ − E_ext·P_perm,

with E_perm the Gaussian-site electrostatics of the permanent multipoles (q, μ, Θ),
ΔE_q, ΔE_μ the non-self-consistent response energies and P_perm the polarization of
the permanent multipoles. With bond-charge conservation (the default) P_perm is built
from graph vectors (:mod:`polmlip.electrostatics.bonds`), a single-valued function of
the configuration in open and periodic frames alike, so forces, stress and the
applied-field force Z*ᵀE all come from autograd of U in one pass, Σ_i Z*_i = Q I, and
NVE under a static field conserves U.
"""

from typing import Dict, List, Optional, Tuple

import torch
from e3nn.util.jit import compile_mode

from .. import keys, units
from ..electrostatics import (
    BondWeight,
    MultipoleElectrostatics,
    bond_charges,
    bond_dipoles,
    bond_sum,
    born_charges,
    global_sum,
    induced_bond_charges,
    induced_charges,
    induced_dipoles,
)
from ..nn.body import EquivariantBody
from ..nn.heads import MultipoleHeads
from ..nn.radial import PolynomialCutoff
from .config import ModelConfig


def _short(value: float) -> str:
    """A float for a message: 4 significant decimals, no trailing dot."""
    text = str(round(value * 10000.0) / 10000.0)
    return text[:-1] if text.endswith(".") else text


def _keep_newer_buffers(module, state_dict, prefix, *args) -> None:
    """Checkpoints written before the field limit and the minimum distance were recorded
    keep the model's defaults for them (a load_state_dict pre-hook)."""
    for name in ("field_limit", "min_distance"):
        state_dict.setdefault(prefix + name, getattr(module, name).detach().clone())


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
            config.charges and config.fixed_charges is None,
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
        self.bond_weight = BondWeight(config.cutoff, config.num_basis, config.avg_neighbors)
        # per-element charge baseline of bond mode (e), geometry-independent
        self.element_charge = torch.nn.Parameter(torch.zeros(n))
        self.response_envelope = PolynomialCutoff(config.cutoff)
        self.register_buffer("energy_shift", torch.zeros(n))
        self.register_buffer("energy_scale", torch.ones(()))
        fixed = config.fixed_charges or {}
        self.register_buffer(
            "fixed_charge_table", torch.tensor([float(fixed.get(e, 0.0)) for e in config.elements])
        )
        # largest accepted |E_ext| in V/Å; set from the training data by the trainer
        limit = config.field_limit if config.field_limit is not None else units.DEFAULT_FIELD_LIMIT
        self.register_buffer("field_limit", torch.tensor(float(limit)))
        # shortest accepted interatomic distance in Å (engines refuse closer atoms)
        shortest = config.min_distance if config.min_distance is not None else units.MIN_DISTANCE
        self.register_buffer("min_distance", torch.tensor(float(shortest)))
        self.register_load_state_dict_pre_hook(_keep_newer_buffers)
        self.use_charges = config.charges
        self.use_fixed_charges = config.charges and config.fixed_charges is not None
        self.use_dipoles = config.dipoles
        self.use_quadrupoles = config.quadrupoles
        self.use_induced_charges = config.induced_charges
        self.use_induced_dipoles = config.induced_dipoles
        self.long_range = config.long_range
        self.charge_conservation = config.charge_conservation
        self.bond_conservation = config.charge_conservation == "bond"
        self.cutoff = float(config.cutoff)
        self.num_layers = int(config.num_layers)

    @torch.jit.export
    def ghost_layers(self) -> int:
        """Cutoffs of ghost atoms an engine must pass around its own atoms: ``num_layers``.

        The bond terms also need per-atom values of ghosts within one cutoff (latent charge,
        κ, potential); they come from the ghosts' owners through :meth:`_from_owners`, so
        they add no ghost shell.
        """
        return self.num_layers

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
        self._check_field(data[keys.EXTERNAL_FIELD])
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
        if self.long_range or self.use_induced_dipoles:
            lr = self._long_range(pos, pos_s, cell_s, vectors, data, heads, n_local, compute_bec)
            energy = energy + lr["energy"]
            for k, v in lr.items():
                if k not in ("energy", "polarization_share"):
                    out[k] = v
            if compute_bec:
                # a row per graph atom: engines add each ghost row to the atom it images
                z = born_charges(lr["polarization_share"], pos, create_graph)
                out[keys.BEC] = z if keys.NUM_LOCAL in data else z[:n_local]
        out[keys.ENERGY] = energy
        if need_grad:
            inputs: List[torch.Tensor] = [pos]
            if compute_stress:
                inputs.append(strain)
            grads = torch.autograd.grad(
                [energy.sum()], inputs, create_graph=create_graph, allow_unused=True
            )
            g0 = grads[0]
            out[keys.FORCES] = -g0 if g0 is not None else torch.zeros_like(pos)
            if compute_stress:
                g1 = grads[1]
                virial = -g1 if g1 is not None else torch.zeros_like(strain)
                volume = torch.abs(torch.linalg.det(cell))
                out[keys.VIRIAL] = virial
                out[keys.STRESS] = -virial / volume[:, None, None]
        return out

    def _check_field(self, field: torch.Tensor) -> None:
        """Refuse non-finite applied fields and fields beyond the model's range."""
        if not bool(torch.isfinite(field).all()):
            raise ValueError("polmlip: the applied electric field is NaN or infinite")
        limit = float(self.field_limit)
        biggest = float(torch.linalg.norm(field.detach(), dim=-1).max()) if field.numel() else 0.0
        if biggest > limit:
            raise ValueError(
                "polmlip: the applied field |E| = "
                + _short(biggest)
                + " V/A exceeds this model's field limit of "
                + _short(limit)
                + " V/A (1.5x the largest training field, at least 1 V/A); the model would "
                + "leave its training range. Raise it deliberately with the engine's "
                + "field_limit setting only if you have checked the response"
            )

    def _permanent_charges(
        self,
        species: torch.Tensor,
        vectors: torch.Tensor,
        data: Dict[str, torch.Tensor],
        heads: Dict[str, torch.Tensor],
        n_local: int,
        dtype: torch.dtype,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Charges q (M,) e of every graph atom, per-atom bond dipoles d (M, 3) e·Å, and the
        site charges (M,) e whose Σ q r (given coordinates) completes the polarization: the
        neutralised per-element baseline with bond charges, q itself otherwise."""
        edge_index = data[keys.EDGE_INDEX]
        m = species.shape[0]
        dipole = torch.zeros((m, 3), dtype=dtype, device=vectors.device)
        if not self.use_charges:
            zero = torch.zeros(m, dtype=dtype, device=vectors.device)
            return zero, dipole, zero
        if self.use_fixed_charges:
            fixed = self.fixed_charge_table.to(dtype)[species]
            return fixed, dipole, fixed
        a = heads["q"]
        if self.charge_conservation == "none":
            return a, dipole, a
        if not self.bond_conservation:
            q = self._neutralise(a, data, n_local)
            return q, dipole, q
        # per-element baseline, neutralised per frame by a constant (composition only), plus
        # antisymmetric bond increments: Σq = Q, and all geometry dependence is local
        c = self.element_charge.to(dtype)[species] * self.heads.multipole_sign.to(dtype)
        site = self._neutralise(c, data, n_local)
        if keys.ATOM_INDEX in data:
            a = self._from_owners(a, data, n_local)
        t = bond_charges(a, self.bond_weight(torch.linalg.norm(vectors, dim=-1)), edge_index)
        q = bond_sum(t, edge_index, m) + site
        return q, bond_dipoles(t, vectors, edge_index, m), site

    def _neutralise(
        self, values: torch.Tensor, data: Dict[str, torch.Tensor], n_local: int
    ) -> torch.Tensor:
        """``values`` (M,) e shifted per frame by (Σ_local − Q)/N over all ranks, so that each
        frame's local atoms sum to its total charge Q (ghost rows get their frame's shift)."""
        batch = data[keys.BATCH]
        nframes = data[keys.CELL].shape[0]
        frame = batch[:n_local]
        zeros = torch.zeros(nframes, dtype=values.dtype, device=values.device)
        sums = zeros.index_add(0, frame, values[:n_local])
        counts = zeros.index_add(0, frame, torch.ones_like(values[:n_local]))
        sums = global_sum(torch.stack([sums, counts]))
        total = data[keys.TOTAL_CHARGE].to(values.dtype)
        shift = (sums[0] - total) / torch.clamp(sums[1], min=1.0)  # a frame may have no atom
        return values - shift[batch]

    def _from_owners(
        self, values: torch.Tensor, data: Dict[str, torch.Tensor], n_local: int
    ) -> torch.Tensor:
        """Per-atom ``values`` (M,) or (M, k) of every graph atom as its owner computed them.

        Engine frames on several ranks give ``atom_index`` (M,), the global index of every
        graph atom (a ghost shares its owner's; the engine checks that the indices are
        0..N-1). Each rank scatters its local values into a global vector,
        :func:`global_sum` completes it, and every row reads its owner's entry; the backward
        sends each ghost's gradient to its owner the same way. O(N) per call, far below the
        replicated mesh; the halo exchange will replace it.
        """
        index = data[keys.ATOM_INDEX]
        size = int(global_sum(torch.full((1,), float(n_local), dtype=values.dtype))[0].item())
        if index.numel() > 0 and int(index.max()) >= size:
            raise ValueError(
                "polmlip: atom_index holds an index beyond the "
                + str(size)
                + " atoms of all ranks; it must number the atoms 0..N-1 and give each ghost "
                + "its owner's index"
            )
        shape: List[int] = [size] + list(values.shape[1:])
        table = torch.zeros(shape, dtype=values.dtype, device=values.device)
        table = global_sum(table.index_add(0, index[:n_local], values[:n_local]))
        return table[index]

    def _frame_sum(
        self, values: torch.Tensor, frame: torch.Tensor, nframes: int, n_local: int
    ) -> torch.Tensor:
        """Σ over the local atoms of each frame: (M, 3) → (B, 3) (this process's share)."""
        out = torch.zeros((nframes, 3), dtype=values.dtype, device=values.device)
        return out.index_add(0, frame, values[:n_local])

    def _long_range(
        self,
        pos: torch.Tensor,
        pos_s: torch.Tensor,
        cell: torch.Tensor,
        vectors: torch.Tensor,
        data: Dict[str, torch.Tensor],
        heads: Dict[str, torch.Tensor],
        n_local: int,
        compute_bec: bool,
    ) -> Dict[str, torch.Tensor]:
        """Long-range and field terms of the local atoms (the first ``n_local``; the rest
        are ghosts). ``pos`` is the leaf, ``pos_s`` the strained positions."""
        nframes = cell.shape[0]
        m = pos.shape[0]
        dtype = pos.dtype
        batch = data[keys.BATCH]
        edge_index = data[keys.EDGE_INDEX]
        species = data[keys.SPECIES]
        field_ext = data[keys.EXTERNAL_FIELD].to(dtype)
        pbc = data[keys.PBC]
        q, d_bond, site_q = self._permanent_charges(species, vectors, data, heads, n_local, dtype)
        mu: Optional[torch.Tensor] = heads["mu"] if self.use_dipoles else None
        th: Optional[torch.Tensor] = heads["theta"] if self.use_quadrupoles else None
        bond_response = self.bond_conservation and self.use_induced_charges
        if (
            self.bond_conservation
            and (self.use_charges or self.use_induced_charges)
            and n_local < m
            and keys.ATOM_INDEX not in data
        ):
            raise ValueError(
                "polmlip: bond charges with ghost atoms need the atom_index of every graph "
                "atom (its owner's global index) so that ghosts take their owners' values"
            )
        nonlocal_flux = (
            self.use_charges and not self.use_fixed_charges and not self.bond_conservation
        ) or (self.use_induced_charges and not self.bond_conservation)

        energy = torch.zeros(nframes, dtype=dtype, device=pos.device)
        phi = torch.zeros(m, dtype=dtype, device=pos.device)
        efield = torch.zeros((m, 3), dtype=dtype, device=pos.device)
        for b in range(nframes):
            idx = torch.nonzero(batch[:n_local] == b).flatten()
            periodic = bool(pbc[b])
            if periodic and nonlocal_flux and (compute_bec or bool((field_ext[b] != 0).any())):
                raise ValueError(
                    "polmlip: an applied field or Born charges in a periodic cell need local "
                    "charge conservation (charge_conservation: bond); this model shifts its "
                    "charges globally, which leaves Z* and the field force undefined there "
                    "(docs/conventions.md)"
                )
            mu_b: Optional[torch.Tensor] = None if mu is None else mu[idx]
            th_b: Optional[torch.Tensor] = None if th is None else th[idx]
            e_site, phi_b, e_b, _ = self.electrostatics(
                pos_s[idx], cell[b], periodic, q[idx], mu_b, th_b, self.use_quadrupoles
            )
            energy = energy.index_add(0, torch.tensor([b], device=pos.device), e_site.sum()[None])
            phi = phi.index_copy(0, idx, phi_b)
            efield = efield.index_copy(0, idx, e_b)

        local_frame = batch[:n_local]
        out: Dict[str, torch.Tensor] = {
            keys.CHARGES: q[:n_local],
            keys.SITE_CHARGES: site_q[:n_local],
            keys.POTENTIAL: phi[:n_local],
            keys.FIELD: efield[:n_local],
        }
        # polarization shares of this process: image-independent part (graph vectors, μ)
        # and the site charges' Σ q_site r of the given coordinates
        dip = d_bond if mu is None else d_bond + mu
        p_perm = self._frame_sum(dip + site_q[:, None] * pos, local_frame, nframes, n_local)
        energy = energy - (field_ext * p_perm).sum(-1)
        p_tot = p_perm

        if self.use_induced_charges:
            kappa = heads["kappa"]
            if bond_response:
                if keys.ATOM_INDEX in data:
                    # ghosts take their owners' potential and κ (the ghosts' own are partial)
                    owned = self._from_owners(torch.stack([phi, kappa], 1), data, n_local)
                    phi, kappa = owned[:, 0], owned[:, 1]
                r = torch.linalg.norm(vectors, dim=-1)
                w = self.response_envelope(r) * self.bond_weight.norm
                t_ind, e_edge = induced_bond_charges(
                    phi, kappa, w, vectors, edge_index, field_ext[batch[edge_index[0]]]
                )
                q_ind = bond_sum(t_ind, edge_index, m)
                d_ind = bond_dipoles(t_ind, vectors, edge_index, m)
                e_atom = bond_sum(e_edge, edge_index, m)
                p_tot = p_tot + self._frame_sum(d_ind, local_frame, nframes, n_local)
            else:
                q_ind, e_atom = induced_charges(phi[:n_local], kappa[:n_local])
                p_tot = p_tot + self._frame_sum(
                    q_ind[:, None] * pos[:n_local], local_frame, nframes, n_local
                )
            energy = energy.index_add(0, local_frame, e_atom[:n_local])
            out[keys.INDUCED_CHARGES] = q_ind[:n_local]
        if self.use_induced_dipoles:
            alpha = heads["alpha"][:n_local]
            mu_ind, e_mu = induced_dipoles(efield[:n_local], field_ext[local_frame], alpha)
            energy = energy.index_add(0, local_frame, e_mu)
            p_tot = p_tot + self._frame_sum(mu_ind, local_frame, nframes, n_local)
            out[keys.INDUCED_DIPOLES] = mu_ind
            if alpha.dim() == 1:
                a3 = alpha[:, None, None] * torch.eye(3, dtype=dtype, device=pos.device)
            else:
                a3 = alpha
            out[keys.POLARIZABILITY] = global_sum(
                torch.zeros((nframes, 3, 3), dtype=dtype, device=pos.device).index_add(
                    0, local_frame, a3
                )
            )
        if self.use_dipoles:
            out[keys.DIPOLES] = heads["mu"][:n_local]
        if self.use_quadrupoles:
            out[keys.QUADRUPOLES] = heads["theta"][:n_local]
        out["energy"] = energy
        out["polarization_share"] = p_tot
        out[keys.POLARIZATION] = global_sum(p_tot)
        return out
