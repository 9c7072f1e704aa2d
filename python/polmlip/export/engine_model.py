"""The engine-facing module stored in an exported file.

Contract (declared in :mod:`polmlip.export.contract`, shown in ``docs/export.md``): an engine
builds the graph of its local atoms and their neighbours (ghost atoms included when it
decomposes the domain) and calls

    outputs = module(inputs, requested)

with ``inputs`` a dict of named tensors and ``requested`` the names of the derivatives it
wants (``forces``, ``virial``, ``stress``, ``bec``, ``polarizability``,
``atomic_polarizability``). All names come from
:mod:`polmlip.keys`; lengths in Å, energies in eV, fields in V/Å. Forces are computed inside
(one backward pass, including the applied-field force of periodic cells) for local and
ghost atoms; the engine sums ghost forces back onto their owners.
"""

from typing import Dict, List

import torch
from e3nn.util.jit import compile_mode

from .. import keys
from ..model.polmlip import PolMLIP
from .contract import ENGINE_INPUTS, PER_FRAME, REQUESTABLE


@compile_mode("script")
class EngineModel(torch.nn.Module):
    """Wraps :class:`PolMLIP` behind the engine call: one frame, a dict in, a dict out."""

    def __init__(self, model: PolMLIP) -> None:
        super().__init__()
        self.model = model
        # engines need one derivative: the fused convolution is their default
        self.model.body.set_fused(True)
        # one system through a run: the long-range settings are chosen once
        self.model.electrostatics.solver.set_fixed_tuning(True)
        self.input_names: List[str] = [p.name for p in ENGINE_INPUTS]
        self.required_inputs: List[str] = [p.name for p in ENGINE_INPUTS if p.required]
        self.requestable: List[str] = list(REQUESTABLE)
        self.per_frame: List[str] = list(PER_FRAME)

    @torch.jit.export
    def set_kspace_accuracy(self, accuracy: float) -> None:
        """Override the relative accuracy of the long-range sum (engines' kspace_accuracy)."""
        self.model.electrostatics.solver.set_accuracy(accuracy)

    @torch.jit.export
    def retune_long_range(self) -> None:
        """Choose the long-range settings (k-space width, k cutoff, PME mesh) again at the
        next call, from that frame's multipole magnitudes: at the setup of a run, or for a
        new system. Between two calls of this they change only when a cell plane spacing
        moves by more than 1 % (``polmlip.electrostatics.tuning``)."""
        self.model.electrostatics.solver.tuning.reset()

    @torch.jit.export
    def long_range_settings(self) -> str:
        """The long-range settings in force, one line for an engine's log."""
        solver = self.model.electrostatics.solver
        split = "Ewald split at " + str(solver.real_cutoff) + " A" if solver.split else "unsplit"
        return (
            solver.method
            + " (spline order "
            + str(solver.spline_order)
            + "), accuracy "
            + str(solver.accuracy)
            + ", "
            + split
            + ": "
            + solver.tuning.describe()
        )

    @torch.jit.export
    def set_fast_path(self, enabled: bool) -> None:
        """Run the message passing through the fused operator ``polmlip::tp_conv`` (the
        default of exported files) or through e3nn's tensor product (the training path);
        both give the same results to rounding (``tests/model/test_fused_conv.py``)."""
        self.model.body.set_fused(enabled)

    @torch.jit.export
    def set_radial_table(self, enabled: bool) -> None:
        """Read the radial weights from the tables made at export (the default of files
        exported with compression) or run the radial networks, which the file keeps."""
        self.model.body.set_compressed(enabled)

    @torch.jit.export
    def set_ewald_split(self, enabled: bool) -> None:
        """Ewald-split the Gaussian sites (k-space part on a coarser mesh, real-space pairs
        to ``real_space_cutoff``) or sum everything in k-space; engines that distribute the
        mesh switch it on (their ghosts must then reach the real-space cutoff)."""
        self.model.electrostatics.solver.set_split(enabled)

    @torch.jit.export
    def set_field_limit(self, limit: float) -> None:
        """Override the largest accepted applied field |E| in V/Å (see ModelConfig)."""
        if not (limit > 0.0 and limit < float("inf")):
            raise ValueError("polmlip: the field limit must be a positive, finite field in V/A")
        self.model.field_limit.fill_(limit)

    @torch.jit.export
    def check_field(self, field: torch.Tensor) -> None:
        """Raise if the applied field (3,) V/Å is NaN, infinite or beyond the field limit,
        the check ``forward`` makes. Distributed engines call it on every rank before a step:
        the field is the same everywhere, so every rank refuses it together."""
        self.model._check_field(field)

    def _check_names(self, inputs: Dict[str, torch.Tensor], requested: List[str]) -> None:
        for name in inputs.keys():
            if name not in self.input_names:
                raise ValueError(
                    "polmlip: unknown input '"
                    + name
                    + "'; the model takes "
                    + ", ".join(self.input_names)
                )
        for name in self.required_inputs:
            if name not in inputs:
                raise ValueError("polmlip: the input '" + name + "' is missing")
        for name in requested:
            if name not in self.requestable:
                raise ValueError(
                    "polmlip: '"
                    + name
                    + "' cannot be requested; requestable outputs are "
                    + ", ".join(self.requestable)
                )

    def forward(
        self, inputs: Dict[str, torch.Tensor], requested: List[str]
    ) -> Dict[str, torch.Tensor]:
        """The declared outputs of one frame.

        Args:
            inputs: ``species`` (N,) int64, ``positions`` (N, 3) Å (local atoms first),
                ``edge_index`` (2, E) int64 (receivers local), ``edge_shift`` (E, 3) lattice
                shifts, ``cell`` (3, 3) Å, ``pbc`` () bool; optional ``external_field``
                (3,) V/Å (zero), ``total_charge`` () e (zero), ``num_local`` () int64 (N;
                engines with ghost atoms install a halo exchange, see ``cpp/ops/halo.h``).
            requested: derivatives to compute, from ``forces``, ``virial``, ``stress``,
                ``bec``, ``polarizability`` (∂P/∂E) and ``atomic_polarizability`` (its
                per-atom parts); virial and stress exist for periodic frames only.

        Returns:
            dict of the declared outputs: per-frame ones without the frame axis, per-atom
            ones with a row per local atom (forces and ``bec``: per graph atom).
        """
        self._check_names(inputs, requested)
        positions = inputs[keys.POSITIONS]
        n = positions.shape[0]
        device = positions.device
        n_local = n
        if keys.NUM_LOCAL in inputs:
            n_local = int(inputs[keys.NUM_LOCAL].reshape(-1)[0])
        if n_local < 0 or n_local > n:
            raise ValueError("polmlip: num_local must be between 0 and the number of atoms")
        pbc = bool(inputs[keys.PBC].reshape(-1)[0])
        field = torch.zeros(3, dtype=positions.dtype, device=device)
        if keys.EXTERNAL_FIELD in inputs:
            field = inputs[keys.EXTERNAL_FIELD].to(positions.dtype).reshape(3)
        total = torch.zeros(1, dtype=positions.dtype, device=device)
        if keys.TOTAL_CHARGE in inputs:
            total = inputs[keys.TOTAL_CHARGE].to(positions.dtype).reshape(1)
        data: Dict[str, torch.Tensor] = {
            keys.SPECIES: inputs[keys.SPECIES],
            keys.POSITIONS: positions,
            keys.EDGE_INDEX: inputs[keys.EDGE_INDEX],
            keys.EDGE_SHIFT: inputs[keys.EDGE_SHIFT],
            keys.BATCH: torch.zeros(n, dtype=torch.long, device=device),
            keys.CELL: inputs[keys.CELL].to(positions.dtype).reshape(1, 3, 3),
            keys.PBC: torch.tensor([pbc], device=device),
            keys.EXTERNAL_FIELD: field[None],
            keys.TOTAL_CHARGE: total,
            keys.NUM_LOCAL: torch.tensor([n_local], device=device),
        }
        want_stress = pbc and (keys.VIRIAL in requested or keys.STRESS in requested)
        want_alpha = keys.POLARIZABILITY in requested or keys.ATOMIC_POLARIZABILITY in requested
        out = self.model(
            data,
            keys.FORCES in requested,
            want_stress,
            keys.BEC in requested,
            False,
            want_alpha,
        )
        result: Dict[str, torch.Tensor] = {}
        for k, v in out.items():
            if k in self.requestable and k not in requested:
                continue
            if k in self.per_frame:
                result[k] = v[0].detach()
            else:
                result[k] = v.detach()
        return result
