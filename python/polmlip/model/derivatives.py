"""Derivatives of the energy: forces, virial and stress, Born charges.

:func:`strained_geometry` runs before the energy modules: it makes the positions an
autograd leaf, applies a zero strain ε to positions and cell (r (1 + ε), cell (1 + ε)) and
builds the edge vectors from them. :class:`Derivatives` runs after: one backward pass of
the energy U gives F = −∂U/∂r, the applied-field force of periodic cells included (U holds
−E_ext·P with P a single-valued function of the configuration), and the virial
W = −∂U/∂ε; the Born charges Z* = ∂P/∂r are the gradients of the polarization share, or,
when the data holds ``bec_projection`` directions v (training), their projections vᵀZ*.
:func:`applied_field_at_sites` gives the applied field a copy per atom, the leaf that the
polarizability α = ∂P/∂E (at fixed nuclei, every response channel) differentiates.
"""

from typing import Dict, List, Optional

import torch
from e3nn.util.jit import compile_mode

from .. import keys
from ..electrostatics import born_charges, global_sum, projected_born_charges
from .frames import frame_sum, local_count


def strained_geometry(
    data: Dict[str, torch.Tensor], need_grad: bool, compute_stress: bool
) -> Dict[str, torch.Tensor]:
    """Add ``strain`` (B, 3, 3), ``strained_positions``, ``strained_cell`` and
    ``edge_vectors`` (E, 3) Å to ``data``; positions become a leaf requiring grad when a
    derivative is wanted."""
    pos = data[keys.POSITIONS]
    batch = data[keys.BATCH]
    cell = data[keys.CELL]
    strain = torch.zeros((cell.shape[0], 3, 3), dtype=pos.dtype, device=pos.device)
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
    data[keys.POSITIONS] = pos
    data[keys.STRAIN] = strain
    data[keys.STRAINED_POSITIONS] = pos_s
    data[keys.STRAINED_CELL] = cell_s
    data[keys.EDGE_VECTORS] = pos_s[edge_index[1]] - pos_s[edge_index[0]] + shift
    return data


def applied_field_at_sites(
    data: Dict[str, torch.Tensor], need_grad: bool
) -> Dict[str, torch.Tensor]:
    """Add ``applied_field_at_sites`` (M, 3) V/Å: each atom's frame's E_ext, an autograd leaf
    when the polarizability is wanted. The response reads the field from it (the bond
    response at each bond's receiving atom), so ∂P/∂(this) is the per-atom polarizability and
    its sum over atoms ∂P/∂E_ext."""
    pos = data[keys.POSITIONS]
    field = data[keys.EXTERNAL_FIELD].to(pos.dtype)[data[keys.BATCH]]
    if need_grad:
        field = field.detach().requires_grad_(True)
    data[keys.APPLIED_FIELD_AT_SITES] = field
    return data


def _polarizability(
    share: torch.Tensor, field_at: torch.Tensor, create_graph: bool
) -> torch.Tensor:
    """(M, 3, 3) e·Å²/V: [i, β, γ] = ∂P_β/∂E_i,γ of this process's polarization share
    (B, 3); zero where P does not depend on the field (no response channel)."""
    rows: List[torch.Tensor] = []
    for beta in range(3):
        g: Optional[torch.Tensor] = None
        if share.requires_grad:
            g = torch.autograd.grad(
                [share[:, beta].sum()],
                [field_at],
                retain_graph=True,
                create_graph=create_graph,
                allow_unused=True,
            )[0]
        rows.append(g if g is not None else torch.zeros_like(field_at))
    return torch.stack(rows, dim=1)


@compile_mode("script")
class Derivatives(torch.nn.Module):
    """Forces (M, 3) eV/Å, virial (B, 3, 3) eV, stress (B, 3, 3) eV/Å³ and Born charges
    (M, 3, 3) e from the energy and polarization share in ``data``; with ``bec_projection``
    (B, 3) in ``data``, the projected Born charges vᵀZ* (M, 3) e instead. The polarizability
    α = ∂P/∂E (B, 3, 3) e·Å²/V (all ranks) and its per-atom parts ∂P/∂E_i (M, 3, 3).

    Born charges have a row per graph atom on engine frames (``num_local`` given): an
    engine adds each ghost row onto the atom it images; otherwise a row per atom.
    """

    inputs = (
        keys.ENERGY,
        keys.POSITIONS,
        keys.STRAIN,
        keys.CELL,
        keys.POLARIZATION_SHARE,
        keys.NUM_LOCAL,
        keys.BEC_PROJECTION,
        keys.APPLIED_FIELD_AT_SITES,
        keys.BATCH,
    )
    outputs = (
        keys.FORCES,
        keys.VIRIAL,
        keys.STRESS,
        keys.BEC,
        keys.PROJECTED_BEC,
        keys.POLARIZABILITY,
        keys.ATOMIC_POLARIZABILITY,
    )

    def forward(
        self,
        data: Dict[str, torch.Tensor],
        compute_forces: bool,
        compute_stress: bool,
        compute_bec: bool,
        create_graph: bool,
        compute_polarizability: bool = False,
    ) -> Dict[str, torch.Tensor]:
        pos = data[keys.POSITIONS]
        if compute_polarizability and keys.POLARIZATION_SHARE in data:
            field_at = data[keys.APPLIED_FIELD_AT_SITES]
            per_atom = _polarizability(data[keys.POLARIZATION_SHARE], field_at, create_graph)
            n_local = local_count(data)
            data[keys.ATOMIC_POLARIZABILITY] = per_atom
            data[keys.POLARIZABILITY] = global_sum(frame_sum(per_atom, data, n_local))
        if compute_bec and keys.POLARIZATION_SHARE in data:
            # before the energy's backward, which may free the graph they share
            share = data[keys.POLARIZATION_SHARE]
            if keys.BEC_PROJECTION in data:
                v = data[keys.BEC_PROJECTION]
                data[keys.PROJECTED_BEC] = projected_born_charges(share, v, pos, create_graph)
            else:
                data[keys.BEC] = born_charges(share, pos, create_graph)
        if not (compute_forces or compute_stress or compute_bec):
            return data
        strain = data[keys.STRAIN]
        inputs: List[torch.Tensor] = [pos]
        if compute_stress:
            inputs.append(strain)
        grads = torch.autograd.grad(
            [data[keys.ENERGY].sum()], inputs, create_graph=create_graph, allow_unused=True
        )
        g0 = grads[0]
        data[keys.FORCES] = -g0 if g0 is not None else torch.zeros_like(pos)
        if compute_stress:
            g1 = grads[1]
            virial = -g1 if g1 is not None else torch.zeros_like(strain)
            volume = torch.abs(torch.linalg.det(data[keys.CELL]))[:, None, None]
            data[keys.VIRIAL] = virial
            # frames without a volume (open frames without a cell) have no stress: NaN there,
            # by a where that keeps the gradient of a batch that mixes them with periodic
            # frames finite (x/0 would put 0·inf = NaN into it even where the loss masks them)
            periodic = volume > 0
            safe = torch.where(periodic, volume, torch.ones_like(volume))
            undefined = torch.full_like(virial, float("nan"))
            data[keys.STRESS] = torch.where(periodic, -virial / safe, undefined)
        return data
