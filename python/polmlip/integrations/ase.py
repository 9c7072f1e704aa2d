"""ASE calculator running an exported polmlip model file.

Example::

    from polmlip.ase import PolMLIPCalculator
    atoms.calc = PolMLIPCalculator("model.pt", external_field=(0, 0, 0.1))
    atoms.get_forces(); atoms.calc.get_property("bec", atoms)
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from .. import keys
from ..config_checks import finite_number, reject_unknown
from ..data.graph import atoms_to_graph
from ..errors import InputError, reraise_clean
from ..export.adapter import engine_inputs, requested_outputs
from ..export.io import load_exported
from ..units import MIN_DISTANCE

#: keywords of ASE's Calculator base class, which PolMLIPCalculator passes on
_ASE_CALCULATOR_KEYWORDS = ("restart", "ignore_bad_restart_file", "label", "atoms", "directory")
#: settings ``calc.set(...)`` changes (and the constructor takes by name)
_SETTABLE = ("external_field", "field_limit", "total_charge")
#: every keyword of the constructor after the model path
_OWN_KEYWORDS = ("device", "ewald_split") + _SETTABLE


class PolMLIPCalculator(Calculator):
    """ASE calculator for an exported polmlip model.

    Args:
        model_path: file written by ``polmlip export``.
        device: "cpu" or "cuda".
        external_field: applied uniform field (3,) in V/Å; may be changed later with
            :meth:`set_external_field`.
        total_charge: total charge of the system in e.
        field_limit: override the model's largest accepted field |E| (V/Å); only after
            checking the response beyond the training range.
        ewald_split: sum the long range Ewald-split, as the LAMMPS plugin does (real-space
            pairs to the model's ``real_space_cutoff``, a coarser mesh); the default sums
            everything in k-space, which is faster in one process. Both agree to the
            model's ``kspace_accuracy``; the split reproduces LAMMPS to rounding.

    Properties: ``energy`` (eV, electric enthalpy under a field), ``forces`` (eV/Å),
    ``stress`` (eV/Å³, periodic only), ``charges`` (e, permanent + induced), ``dipoles``
    (e·Å per atom, permanent + induced), ``polarization`` (e·Å), ``bec`` (N, 3, 3) e,
    ``dipole`` (e·Å, = polarization), and every other output the model declares
    (``permanent_charges``, ``induced_charges``, ``permanent_dipoles``, ``quadrupoles``,
    ``potential``, ``polarizability`` (α = ∂P/∂E at fixed nuclei, e·Å²/V),
    ``atomic_polarizability``, ...; the table in docs/export.md) under its declared
    name, through ``calc.results`` or ``calc.get_property(name, atoms)``. A model without
    charges or dipoles reports zeros for ``charges`` and ``dipoles``.
    """

    implemented_properties = [
        "energy",
        "free_energy",
        "forces",
        "stress",
        "charges",
        "dipoles",
        "polarization",
        "bec",
        "dipole",
    ]

    def __init__(
        self,
        model_path: str,
        device: str = "cpu",
        external_field: Sequence[float] = (0.0, 0.0, 0.0),
        total_charge: float = 0.0,
        field_limit: Optional[float] = None,
        ewald_split: bool = False,
        **kwargs,
    ) -> None:
        # ASE's own Calculator keywords pass through; anything else is a misspelt setting
        reject_unknown(kwargs, _ASE_CALCULATOR_KEYWORDS + _OWN_KEYWORDS, "PolMLIPCalculator")
        super().__init__(**kwargs)
        self.model, self.metadata = load_exported(model_path, device=device)
        if field_limit is not None:
            self._set_field_limit(field_limit)
        if ewald_split:
            self._set_ewald_split()
        self.device = device
        self.dtype = getattr(torch, self.metadata["dtype"])
        self.elements = self.metadata["elements"]
        self.cutoff = float(self.metadata["cutoff"])
        self.min_distance = float(self.metadata.get("min_distance", MIN_DISTANCE))
        self.total_charge = finite_number(total_charge, "total_charge", " (e)")
        self.set_external_field(external_field)
        declared = [port["name"] for port in self.metadata["outputs"]]
        self.implemented_properties = list(type(self).implemented_properties) + [
            name for name in declared if name not in type(self).implemented_properties
        ]

    def set(self, **kwargs):
        """ASE's ``calc.set(...)``: ``external_field``, ``total_charge`` and ``field_limit``
        change results, so setting them invalidates the cached results like any other
        changed parameter."""
        changed = {}
        if "external_field" in kwargs:
            self.set_external_field(kwargs.pop("external_field"))
            changed["external_field"] = self.external_field
        if "field_limit" in kwargs:
            self._set_field_limit(kwargs.pop("field_limit"))
            self.reset()
            changed["field_limit"] = self.field_limit
        if "total_charge" in kwargs:
            self.total_charge = finite_number(kwargs.pop("total_charge"), "total_charge", " (e)")
            self._retune_long_range()
            self.reset()
            changed["total_charge"] = self.total_charge
        reject_unknown(kwargs, _SETTABLE, "PolMLIPCalculator.set")
        changed.update(super().set(**kwargs))
        return changed

    def _retune_long_range(self) -> None:
        """The long-range settings are chosen once per system (at its first call) and kept
        while it moves (``polmlip.electrostatics.tuning``); files exported before that
        choose them on every call and have nothing to reset."""
        if hasattr(self.model, "retune_long_range"):
            self.model.retune_long_range()

    def _set_ewald_split(self) -> None:
        """Sum the long range as the LAMMPS plugin does: Ewald-split, real-space pairs to the
        model's ``real_space_cutoff`` (same physics to the accuracy; for comparisons)."""
        cutoff = float(self.metadata.get("long_range", {}).get("real_space_cutoff", 0.0) or 0.0)
        if cutoff <= 0.0:
            raise InputError(
                "ewald_split needs a model exported with a real_space_cutoff > 0 "
                "(re-export it with this version of polmlip)"
            )
        self.model.set_ewald_split(True)

    def _set_field_limit(self, limit) -> None:
        self.field_limit = finite_number(limit, "field_limit", " (V/Å)")
        if self.field_limit <= 0:
            raise InputError(f"field_limit must be a positive field in V/Å, got {limit!r}")
        self.model.set_field_limit(self.field_limit)

    def set_external_field(self, field: Sequence[float]) -> None:
        """Set the applied field (3,) in V/Å; invalidates cached results."""
        try:
            f = np.asarray(field, dtype=np.float64)
        except (TypeError, ValueError):
            f = np.full(1, np.nan)
        if f.shape != (3,) or not np.isfinite(f).all():
            raise InputError(f"external_field must be 3 finite numbers in V/Å, got {field!r}")
        self.external_field = f
        self.reset()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if "numbers" in system_changes or "pbc" in system_changes:
            self._retune_long_range()  # another system: choose the long range for it
        g = atoms_to_graph(
            self.atoms,
            self.elements,
            self.cutoff,
            self.external_field,
            self.total_charge,
            dtype=self.dtype,
            min_distance=self.min_distance,
        )
        pbc = bool(g[keys.PBC][0])
        inputs = {k: v.to(self.device) for k, v in engine_inputs(g).items()}
        alpha = keys.POLARIZABILITY in properties or keys.ATOMIC_POLARIZABILITY in properties
        requested = requested_outputs(True, pbc, "bec" in properties, alpha)
        # the optimizing graph executor mis-types the gradients of PME's complex FFT when
        # BECs and forces are both requested; the engine plugins disable it as well
        with reraise_clean(), torch.jit.optimized_execution(False):
            out = self.model(inputs, requested)
        res = {"energy": float(out[keys.ENERGY]), "forces": out[keys.FORCES].cpu().numpy()}
        res["free_energy"] = res["energy"]
        if pbc and keys.STRESS in out:
            s = out[keys.STRESS].cpu().numpy()
            res["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        n = len(self.atoms)
        res["charges"] = np.zeros(n)
        res["dipoles"] = np.zeros((n, 3))
        for name, value in out.items():
            if name not in (keys.ENERGY, keys.FORCES, keys.STRESS):
                res[name] = value.cpu().numpy()
        if keys.POLARIZATION in out:
            res["dipole"] = res[keys.POLARIZATION]
        self.results.update(res)
