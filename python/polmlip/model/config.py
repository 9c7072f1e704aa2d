"""Model configuration with validation (unknown keys and bad values are errors)."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from ..config_checks import at_least, between, check_fields, finite_number, one_of, positive
from ..errors import InputError
from ..nn.body import BACKBONES
from ..nn.symmetric_product import DEFAULT_CORRELATION, MAX_CORRELATION, MAX_ELL

#: The ablation ladder of the seed paper, as head switches.
LADDER: Dict[str, Dict[str, bool]] = {
    "SR": dict(
        charges=False,
        dipoles=False,
        quadrupoles=False,
        induced_charges=False,
        induced_dipoles=False,
    ),
    "q": dict(
        charges=True, dipoles=False, quadrupoles=False, induced_charges=False, induced_dipoles=False
    ),
    "qmu": dict(
        charges=True, dipoles=True, quadrupoles=False, induced_charges=False, induced_dipoles=False
    ),
    "qmutheta": dict(
        charges=True, dipoles=True, quadrupoles=True, induced_charges=False, induced_dipoles=False
    ),
    "+iq": dict(
        charges=True, dipoles=True, quadrupoles=True, induced_charges=True, induced_dipoles=False
    ),
    "+imu": dict(
        charges=True, dipoles=True, quadrupoles=True, induced_charges=True, induced_dipoles=True
    ),
}


#: The MACE backbone's first layer: with the element-dependent residual from the embedding
#: (polmlip's default), or mace-torch's ``MACE`` first block (see ModelConfig).
FIRST_INTERACTIONS = ("residual", "plain")

#: Settings of the MACE backbone only (None unless given; refused with another backbone).
MACE_ONLY = ("correlation", "max_ell", "first_interaction")

#: Ways of keeping the total charge (see ModelConfig.charge_conservation).
CHARGE_CONSERVATION = ("bond", "uniform", "none")

#: Range rules of the model settings (types come from the annotations).
_RULES = {
    "cutoff": positive(),
    "backbone": one_of(*BACKBONES),
    "correlation": between(1, MAX_CORRELATION, closed="low high"),
    "channels": at_least(1),
    "lmax": one_of(0, 1, 2),
    "num_layers": at_least(1),
    "num_basis": at_least(1),
    "radial_hidden": at_least(1),
    "radial_layers": at_least(1),
    "max_ell": between(0, MAX_ELL, closed="low high"),
    "envelope_exponent": at_least(2),
    "first_interaction": one_of(*FIRST_INTERACTIONS),
    "avg_neighbors": positive(),
    "charge_conservation": one_of(*CHARGE_CONSERVATION),
    "field_limit": positive(),
    "min_distance": positive(),
    # narrower Gaussian sites need a finer PME mesh (∝ 1/σ³ points): below 0.25 Å it
    # outgrows memory for boxes of a few nm; physical site widths are 0.5-1.5 Å
    "sigma": at_least(0.25),
    "kspace_method": one_of("pme", "ewald"),
    "kspace_accuracy": between(0.0, 1.0),
    "spline_order": between(4, 8, closed="low high"),
    "real_space_cutoff": at_least(0.0),
}


@dataclasses.dataclass
class ModelConfig:
    """Architecture and physics settings of a polmlip model.

    Attributes:
        elements: chemical symbols the model knows, in type order.
        cutoff: short-range cutoff r_c in Å.
        backbone: the short-range network's message-passing layers: ``"nequip"`` (default;
            gated equivariant convolutions, NequIP-style) or ``"mace"`` (MACE's A-basis and
            higher-order product basis with element-dependent weights; docs/backbones.md).
            The heads, electrostatics, response and engines are the same for both.
        correlation: body order ν of MACE's product basis (1–3); ``None`` (default) takes
            MACE's default, 3. A setting of ``backbone: mace`` only: given with another
            backbone it is refused.
        channels, lmax, num_layers, num_basis, radial_hidden: network size (lmax ≤ 2).
        radial_layers: hidden layers of each radial MLP, each ``radial_hidden`` wide (2;
            MACE's models use 3 of 64).
        max_ell: highest order of the edge spherical harmonics and of the A-basis of the MACE
            backbone (at least lmax, at most 3; MACE's models use 3); ``None`` (default) takes
            lmax. A setting of ``backbone: mace`` only.
        first_interaction: the MACE backbone's first layer: ``"residual"`` adds an
            element-dependent map of the embedding (polmlip's default, as every later layer);
            ``"plain"`` maps the A-basis per element and adds nothing, as mace-torch's
            ``MACE`` models do (``RealAgnosticInteractionBlock``). ``None``: residual. A
            setting of ``backbone: mace`` only.
        mace_body: a file written by ``polmlip import-mace`` from a mace-torch model: training
            starts from its body's weights, and the settings it fixes (backbone, channels,
            max_ell, num_layers, correlation, cutoff, num_basis, radial_hidden,
            radial_layers, envelope_exponent, first_interaction) are taken from it
            (docs/backbones.md). A relative path is read from the config file's folder.
        envelope_exponent: p of the polynomial envelope that takes the radial basis to zero
            at the cutoff with p continuous derivatives (6, NequIP's; MACE's models use 5).
        avg_neighbors: typical neighbour count (normalises messages).
        charges, dipoles, quadrupoles: latent permanent multipole heads.
        induced_charges, induced_dipoles: response heads; anisotropic_alpha: a 3×3 α per
            atom (needs lmax 2) instead of a scalar one, for the anisotropy of the
            polarizability that Raman spectra need (docs/workflows.md, ``polmlip raman``).
        charge_conservation: how Σq is kept at the frame's total charge Q (see
            ``docs/conventions.md``): ``"bond"`` (default) builds charges from antisymmetric
            bond-charge increments, so Born charges are local and defined in periodic cells;
            ``"uniform"`` shifts every charge by (Σq − Q)/N (open boundaries only once a
            field or Born charges are involved); ``"none"`` leaves the head's charges as they
            are. ``True``/``False`` from older configs mean ``"uniform"``/``"none"``.
        fixed_charges: per-element charges (e) instead of the charge head, e.g. a rigid-ion
            model with a learned short range; geometry-independent, so Z*_i = q_i I.
        reference_energies: per-element reference energies E0 in eV (e.g. isolated atoms in
            the method of the data), added to every atom's energy and kept fixed; ``None``
            (default) fits them by least squares to the training energies and the element
            counts (the untrained network's own offset is left for training to remove: it
            changes as the charges train, so fitting it into fixed E0s is wrong).
            Either way they are stored in the checkpoint and in the exported file's metadata
            (``reference_energies``).
        field_limit: largest applied field |E| in V/Å the model accepts; ``None`` takes it
            from the training data (1.5 × the largest field seen, at least
            :data:`polmlip.units.DEFAULT_FIELD_LIMIT`).
        min_distance: shortest interatomic distance in Å the model accepts (closer atoms are
            refused by every engine); ``None`` takes it from the training data
            (:data:`polmlip.units.MIN_DISTANCE_OF_TRAINING` × the shortest training distance,
            at least :data:`polmlip.units.MIN_DISTANCE`).
        sigma: Gaussian pair width of the sites in Å (at least 0.25 Å: the PME mesh grows as
            1/σ³).
        kspace_method: "pme" or "ewald" for periodic frames.
        kspace_accuracy: relative accuracy of the long-range sum.
        spline_order: PME B-spline order.
        real_space_cutoff: real-space cutoff in Å of the Ewald split of the Gaussian sites
            (``docs/conventions.md``), used where the mesh is distributed over ranks (the
            LAMMPS plugin, ``set_ewald_split`` of the exported module, ``ewald_split`` of the
            ASE calculator): a coarser mesh (about 20 points per site at 9 Å and 1e-5
            against 240 unsplit) for pairs to this distance. Training and one process sum
            everything in k-space, which is faster there; both agree to the accuracy.
            0 disables the split.
    """

    elements: List[str]
    cutoff: float = 4.5
    backbone: str = "nequip"
    correlation: Optional[int] = None
    channels: int = 16
    lmax: int = 2
    num_layers: int = 2
    num_basis: int = 8
    radial_hidden: int = 32
    radial_layers: int = 2
    max_ell: Optional[int] = None
    envelope_exponent: int = 6
    first_interaction: Optional[str] = None
    mace_body: Optional[str] = None
    avg_neighbors: float = 12.0
    charges: bool = True
    dipoles: bool = True
    quadrupoles: bool = False
    induced_charges: bool = True
    induced_dipoles: bool = True
    anisotropic_alpha: bool = False
    charge_conservation: str = "bond"
    fixed_charges: Optional[Dict[str, float]] = None
    reference_energies: Optional[Dict[str, float]] = None
    field_limit: Optional[float] = None
    min_distance: Optional[float] = None
    sigma: float = 1.0
    kspace_method: str = "pme"
    kspace_accuracy: float = 1e-5
    spline_order: int = 7
    real_space_cutoff: float = 9.0

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> ModelConfig:
        """Build from a mapping; an unknown key raises with the list of valid keys."""
        if not isinstance(data, dict):
            raise InputError(f"model settings must be a mapping, got {data!r}")
        data = dict(data)
        ladder = data.pop("ladder", None)
        if ladder is not None:
            if not isinstance(ladder, str) or ladder not in LADDER:
                raise InputError(f"unknown ladder rung {ladder!r}; choose one of {list(LADDER)}")
            for k, v in LADDER[ladder].items():
                data.setdefault(k, v)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"unknown model setting(s) {unknown}; valid keys are {sorted(names)}")
        if "elements" not in data:
            raise InputError("model settings need 'elements' (chemical symbols)")
        cfg = cls(**data)
        cfg.validate()
        return cfg

    def __post_init__(self) -> None:
        # older configs and checkpoints stored a bool
        if self.charge_conservation is True:
            self.charge_conservation = "uniform"
        elif self.charge_conservation is False:
            self.charge_conservation = "none"

    def validate(self) -> None:
        from ase.data import atomic_numbers

        check_fields(self, "model", _RULES)
        bad = [e for e in self.elements if e not in atomic_numbers]
        if bad or not self.elements:
            raise InputError(f"unknown chemical element(s) {bad} in 'elements'")
        if len(set(self.elements)) != len(self.elements):
            raise InputError(f"model.elements lists an element twice: {self.elements}")
        for name in MACE_ONLY:
            value = getattr(self, name)
            if value is not None and self.backbone != "mace":
                raise InputError(
                    f"model.{name} ({value!r}) is a setting of the MACE backbone only; this "
                    f"model's backbone is {self.backbone!r} (set backbone: mace, or remove "
                    f"{name})"
                )
        if self.max_ell is not None and self.max_ell < self.lmax:
            raise InputError(
                f"model.max_ell ({self.max_ell}) must be at least lmax ({self.lmax}): "
                "the A-basis carries every irrep the layer outputs"
            )
        if self.dipoles and self.lmax < 1:
            raise InputError("dipole heads need lmax ≥ 1")
        if (self.quadrupoles or self.anisotropic_alpha) and self.lmax < 2:
            raise InputError("quadrupole and anisotropic-α heads need lmax = 2")
        if self.fixed_charges is not None and set(self.fixed_charges) != set(self.elements):
            raise InputError(f"fixed_charges must give one charge (e) for each of {self.elements}")
        e0 = self.reference_energies
        if e0 is not None:
            if not isinstance(e0, dict) or set(e0) != set(self.elements):
                raise InputError(
                    f"model.reference_energies must give one energy (eV) for each of "
                    f"{self.elements}, got {e0!r}"
                )
            for element, value in e0.items():
                finite_number(value, f"model.reference_energies.{element}", " (eV)")

    @property
    def edge_lmax(self) -> int:
        """The highest order of the edge harmonics (MACE's ``max_ell``, else lmax)."""
        return self.lmax if self.max_ell is None else self.max_ell

    @property
    def product_correlation(self) -> int:
        """The body order the MACE product basis is built with."""
        return DEFAULT_CORRELATION if self.correlation is None else self.correlation

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def long_range(self) -> bool:
        return self.charges or self.dipoles or self.quadrupoles
