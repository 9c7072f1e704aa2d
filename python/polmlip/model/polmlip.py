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

import contextlib
from typing import Dict, Iterator, List

import torch
from e3nn.util.jit import compile_mode

from .. import keys, units
from ..electrostatics import MultipoleElectrostatics
from ..nn.body import EquivariantBody
from ..nn.heads import MultipoleHeads
from .charges import ChargeConservation
from .config import ModelConfig
from .derivatives import Derivatives, applied_field_at_sites, strained_geometry
from .energy_sum import EnergySum
from .field_coupling import FieldCoupling
from .frames import local_count
from .permanent import PermanentElectrostatics
from .response import LinearResponse


def _short(value: float) -> str:
    """A float for a message: 4 significant decimals, no trailing dot."""
    text = str(round(value * 10000.0) / 10000.0)
    return text[:-1] if text.endswith(".") else text


#: state-dict names of checkpoints written before the model was split into modules
_RENAMED = {
    "element_charge": "heads.element_charge",
    "bond_weight.": "charge_conservation.bond_weight.",
    "fixed_charge_table": "charge_conservation.fixed_charge_table",
    "energy_shift": "energy_sum.energy_shift",
    "energy_scale": "energy_sum.energy_scale",
}


def _is_constant(name: str) -> bool:
    """Buffers that are exact mathematical constants of the architecture (Wigner 3j symbols
    of the tensor products, the l=2 → 3×3 change of basis), not learned or fitted values."""
    return "._w3j_" in name or name.endswith("l2_to_matrix")


def _upgrade_state_dict(module, state_dict, prefix, *args) -> None:
    """A load_state_dict pre-hook for older checkpoints: renamed entries get their new
    names; checkpoints written before the field limit and the minimum distance were
    recorded keep the model's defaults for them; and the architecture's constant buffers
    keep the model's own exact values (checkpoints before float64 construction hold them
    rounded to float32, which broke rotation equivariance at the 1e-8 level)."""
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        for old, new in _RENAMED.items():
            if name == old or (old.endswith(".") and name.startswith(old)):
                state_dict[prefix + new + name[len(old) :]] = state_dict.pop(key)
                break
    for name in ("field_limit", "min_distance"):
        state_dict.setdefault(prefix + name, getattr(module, name).detach().clone())
    own = dict(module.named_buffers())
    for key in list(state_dict):
        name = key[len(prefix) :]
        if key.startswith(prefix) and _is_constant(name) and name in own:
            state_dict[key] = own[name].detach().clone()


@contextlib.contextmanager
def _float64_defaults() -> Iterator[None]:
    """Build in float64: e3nn and the heads compute constants (Wigner 3j symbols, changes
    of basis) in torch's default dtype, and a float32 constant stays rounded after
    ``.double()``. A float32 model is then a cast of exact values."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


#: outputs of PolMLIP: per-atom ones are cut to the local atoms; forces and Born charges
#: keep a row per graph atom (see polmlip.export.contract)
_PER_ATOM_OUTPUTS = [
    keys.ATOMIC_ENERGY,
    keys.PERMANENT_CHARGES,
    keys.SITE_CHARGES,
    keys.INDUCED_CHARGES,
    keys.PERMANENT_DIPOLES,
    keys.INDUCED_DIPOLES,
    keys.QUADRUPOLES,
    keys.POTENTIAL,
    keys.FIELD,
    keys.ATOMIC_POLARIZABILITY,
]
_FRAME_OUTPUTS = [
    keys.ENERGY,
    keys.POLARIZATION,
    keys.POLARIZABILITY,
    keys.VIRIAL,
    keys.STRESS,
]


@compile_mode("script")
class PolMLIP(torch.nn.Module):
    """The polmlip potential on batched graphs (see :mod:`polmlip.keys` for the fields).

    Built in float64 (cast with ``.float()`` for a float32 model). A chain of modules,
    each reading and writing named entries of one data dict:
    :func:`strained_geometry` → body → heads → charge conservation → permanent
    electrostatics → response → field coupling → energy sum → :class:`Derivatives`.
    Without permanent multipoles or induced dipoles the four long-range modules are skipped.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        with _float64_defaults():
            self._build(config)

    def _build(self, config: ModelConfig) -> None:
        """The modules, buffers and switches of a model with ``config`` (in float64)."""
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
            [config.radial_hidden] * config.radial_layers,
            config.avg_neighbors,
            config.backbone,
            config.product_correlation,
            config.edge_lmax,
            config.envelope_exponent,
            config.first_interaction != "plain",
        )
        self.heads = MultipoleHeads(
            self.body.irreps_out,
            n,
            config.charges and config.fixed_charges is None,
            config.dipoles,
            config.quadrupoles,
            config.induced_charges,
            config.induced_dipoles,
            config.anisotropic_alpha,
        )
        fixed = config.fixed_charges or {}
        self.charge_conservation = ChargeConservation(
            config.charge_conservation,
            config.charges,
            torch.tensor([float(fixed.get(e, 0.0)) for e in config.elements]),
            config.charges and config.fixed_charges is not None,
            config.cutoff,
            config.num_basis,
            config.avg_neighbors,
        )
        solver = MultipoleElectrostatics(
            sigma=config.sigma,
            method=config.kspace_method,
            accuracy=config.kspace_accuracy,
            spline_order=config.spline_order,
            real_cutoff=config.real_space_cutoff or None,
            split=False,
        )
        self.electrostatics = PermanentElectrostatics(solver, config.dipoles, config.quadrupoles)
        self.response = LinearResponse(
            config.induced_charges,
            config.induced_dipoles,
            config.charge_conservation == "bond",
            config.cutoff,
            self.charge_conservation.bond_weight.norm,
        )
        self.field_coupling = FieldCoupling(config.dipoles)
        self.energy_sum = EnergySum(n)
        self.derivatives = Derivatives()
        # largest accepted |E_ext| in V/Å; set from the training data by the trainer
        limit = config.field_limit if config.field_limit is not None else units.DEFAULT_FIELD_LIMIT
        self.register_buffer("field_limit", torch.tensor(float(limit)))
        # shortest accepted interatomic distance in Å (engines refuse closer atoms)
        shortest = config.min_distance if config.min_distance is not None else units.MIN_DISTANCE
        self.register_buffer("min_distance", torch.tensor(float(shortest)))
        self.register_load_state_dict_pre_hook(_upgrade_state_dict)
        self.long_range = config.long_range or config.induced_dipoles
        self.use_charges = config.charges
        self.use_fixed_charges = config.charges and config.fixed_charges is not None
        bond = config.charge_conservation == "bond"
        # charges shifted by a global constant (or a global Lagrange multiplier)
        self.nonlocal_flux = (config.charges and config.fixed_charges is None and not bond) or (
            config.induced_charges and not bond
        )
        self.per_atom_outputs: List[str] = list(_PER_ATOM_OUTPUTS)
        self.frame_outputs: List[str] = list(_FRAME_OUTPUTS)
        self.cutoff = float(config.cutoff)
        self.num_layers = int(config.num_layers)

    @torch.jit.export
    def ghost_layers(self) -> int:
        """Cutoffs of ghost atoms an engine must pass around its own atoms: one.

        Every layer updates the local atoms from neighbours within one cutoff, and
        ``polmlip::halo`` gives the ghosts their owners' features before the next layer
        (and their owners' potential for the bond response), so a ghost shell of one cutoff
        makes the local results exact whatever ``num_layers`` is.
        """
        return 1

    def forward(
        self,
        data: Dict[str, torch.Tensor],
        compute_forces: bool = True,
        compute_stress: bool = False,
        compute_bec: bool = False,
        create_graph: bool = False,
        compute_polarizability: bool = False,
    ) -> Dict[str, torch.Tensor]:
        """Evaluate a batch of frames.

        Args:
            data: graph dict with ``species, positions, edge_index, edge_shift, batch, cell,
                pbc, external_field, total_charge`` and, for engine frames, ``num_local``
                (shapes in :mod:`polmlip.keys`); not modified. With ``bec_projection``
                (B, 3) (training), ``compute_bec`` gives ``projected_bec`` vᵀZ* (N, 3).
            compute_forces / compute_stress / compute_bec: requested derivatives.
            create_graph: keep the graph of the derivatives (training on forces, BECs).
            compute_polarizability: α = ∂P/∂E at fixed nuclei (``polarizability``) and its
                per-atom parts (``atomic_polarizability``), by autograd.

        Returns:
            dict with ``energy`` (B,) and the outputs of :data:`_PER_ATOM_OUTPUTS` and
            :data:`_FRAME_OUTPUTS` this model has, plus the sums ``charges`` and
            ``dipoles``, ``forces`` (with any derivative), ``bec`` and ``polarizability``
            (on request).
        """
        data = data.copy()
        self._check_inputs(data, compute_bec)
        n_local = local_count(data)
        need_grad = compute_forces or compute_stress or compute_bec
        data = strained_geometry(data, need_grad, compute_stress)
        data = applied_field_at_sites(data, compute_polarizability)
        data = self.body(data)
        data = self.heads(data)
        if self.long_range:
            data = self.charge_conservation(data)
            data = self.electrostatics(data)
            data = self.response(data)
            data = self.field_coupling(data)
        data = self.energy_sum(data)
        data = self.derivatives(
            data, compute_forces, compute_stress, compute_bec, create_graph, compute_polarizability
        )
        return self._outputs(data, n_local)

    def _outputs(self, data: Dict[str, torch.Tensor], n_local: int) -> Dict[str, torch.Tensor]:
        """The model's outputs from the data dict: per-atom values of the local atoms, the
        combined charges and dipoles, forces and Born charges with a row per graph atom
        (Born charges of non-engine frames: per atom)."""
        out: Dict[str, torch.Tensor] = {}
        for name in self.per_atom_outputs:
            if name in data:
                out[name] = data[name][:n_local]
        for name in self.frame_outputs:
            if name in data:
                out[name] = data[name]
        if keys.PERMANENT_CHARGES in out:
            q = out[keys.PERMANENT_CHARGES]
            if keys.INDUCED_CHARGES in out:
                q = q + out[keys.INDUCED_CHARGES]
            out[keys.CHARGES] = q
        for part in (keys.PERMANENT_DIPOLES, keys.INDUCED_DIPOLES):
            if part in out:
                dipoles = out[part] if keys.DIPOLES not in out else out[keys.DIPOLES] + out[part]
                out[keys.DIPOLES] = dipoles
        if keys.FORCES in data:
            out[keys.FORCES] = data[keys.FORCES]
        if keys.BEC in data:
            bec = data[keys.BEC]
            out[keys.BEC] = bec if keys.NUM_LOCAL in data else bec[:n_local]
        if keys.PROJECTED_BEC in data:
            out[keys.PROJECTED_BEC] = data[keys.PROJECTED_BEC][:n_local]
        return out

    def _check_inputs(self, data: Dict[str, torch.Tensor], compute_bec: bool) -> None:
        """Refuse inputs this model cannot answer correctly (before any work)."""
        self._check_field(data[keys.EXTERNAL_FIELD])
        n_local = local_count(data)
        m = data[keys.POSITIONS].shape[0]
        if keys.NUM_LOCAL in data and data[keys.CELL].shape[0] != 1:
            raise ValueError("polmlip: ghost atoms are supported for single frames only")
        if n_local < m and bool((data[keys.EDGE_INDEX][0] >= n_local).any()):
            raise ValueError(
                "polmlip: edges must have local receivers (edge_index[0] < num_local): ghost "
                "atoms get their features from their owners, not from their own neighbours"
            )
        if self.long_range and self.nonlocal_flux:
            pbc = data[keys.PBC]
            field = data[keys.EXTERNAL_FIELD]
            for b in range(pbc.shape[0]):
                if bool(pbc[b]) and (compute_bec or bool((field[b] != 0).any())):
                    raise ValueError(
                        "polmlip: an applied field or Born charges in a periodic cell need "
                        "local charge conservation (charge_conservation: bond); this model "
                        "shifts its charges globally, which leaves Z* and the field force "
                        "undefined there (docs/conventions.md)"
                    )

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
