"""The engine contract, declared once: what an exported model takes and returns.

An engine calls ``module(inputs, requested)`` with ``inputs`` a dict of named tensors
(:data:`ENGINE_INPUTS`) and ``requested`` a list of output names; the module returns a dict
of the outputs this model declares (:func:`declared_outputs`). Outputs marked "on request"
(derivatives: forces, virial, stress, Born charges, polarizability) are computed only when named in
``requested``; the others are always returned. All names come from :mod:`polmlip.keys`.

The declaration is written into every exported file's metadata (``inputs``, ``outputs``),
the C++ engines read it from there, :func:`check_outputs` refuses a model whose outputs do
not match it at export, and ``docs/export.md`` shows it as the table :func:`markdown_table`
writes.

Shapes use ``"atoms"`` for the number of graph atoms N (local atoms first, then ghosts) and
``"edges"`` for E. Per-atom outputs have a row per local atom, except those whose ``rows``
is ``"graph"`` (forces, Born charges): one row per graph atom, and an engine with ghost atoms
adds each ghost row onto the atom it images.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .. import keys

ATOMS = "atoms"
EDGES = "edges"


@dataclasses.dataclass(frozen=True)
class Port:
    """One named tensor of the contract.

    Attributes:
        name: key from :mod:`polmlip.keys`.
        shape: dims; ``"atoms"`` / ``"edges"`` stand for N / E, ints are fixed.
        dtype: ``"float"`` (the model's dtype), ``"int64"`` or ``"bool"``.
        unit: physical unit ("" for integers and flags).
        description: one line for the docs.
        needs: model settings (config keys) that must all be true for the port to exist.
        on_request: outputs computed only when named in ``requested`` (derivatives).
        periodic_only: outputs that exist for periodic frames only.
        rows: ``"local"`` or ``"graph"`` (per-atom outputs with a row per graph atom).
        required: inputs an engine must pass (the others have defaults).
    """

    name: str
    shape: Tuple[Any, ...]
    dtype: str
    unit: str
    description: str
    needs: Tuple[str, ...] = ()
    on_request: bool = False
    periodic_only: bool = False
    rows: str = "local"
    required: bool = True

    @property
    def per_atom(self) -> bool:
        return len(self.shape) > 0 and self.shape[0] == ATOMS

    def to_dict(self) -> Dict[str, Any]:
        """The metadata entry of this port (what the C++ engines read)."""
        out = {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "unit": self.unit,
            "per_atom": self.per_atom,
            "description": self.description,
        }
        return out


ENGINE_INPUTS: Tuple[Port, ...] = (
    Port(keys.SPECIES, (ATOMS,), "int64", "", "model species index of every graph atom"),
    Port(keys.POSITIONS, (ATOMS, 3), "float", "Å", "positions, local atoms first, then ghosts"),
    Port(keys.EDGE_INDEX, (2, EDGES), "int64", "", "(i, j): j neighbour of i, i local"),
    Port(
        keys.EDGE_SHIFT, (EDGES, 3), "float", "", "integer lattice shifts S of r_j − r_i + S·cell"
    ),
    Port(keys.CELL, (3, 3), "float", "Å", "lattice vectors as rows"),
    Port(keys.PBC, (), "bool", "", "periodic in all three directions"),
    Port(keys.EXTERNAL_FIELD, (3,), "float", "V/Å", "applied uniform field", required=False),
    Port(keys.TOTAL_CHARGE, (), "float", "e", "total charge of the system", required=False),
    Port(keys.NUM_LOCAL, (), "int64", "", "atoms [num_local:] are ghosts", required=False),
)

_CHARGED = ("long_range_or_response",)  # any electrostatics: see _switches

ENGINE_OUTPUTS: Tuple[Port, ...] = (
    Port(keys.ENERGY, (), "float", "eV", "this process's share of the electric enthalpy U"),
    Port(keys.ATOMIC_ENERGY, (ATOMS,), "float", "eV", "short-range energy of each atom"),
    Port(
        keys.FORCES,
        (ATOMS, 3),
        "float",
        "eV/Å",
        "−∂U/∂r, the applied-field force included",
        on_request=True,
        rows="graph",
    ),
    Port(
        keys.VIRIAL,
        (3, 3),
        "float",
        "eV",
        "−∂U/∂strain (this process's share)",
        on_request=True,
        periodic_only=True,
    ),
    Port(
        keys.STRESS,
        (3, 3),
        "float",
        "eV/Å³",
        "−virial / volume",
        on_request=True,
        periodic_only=True,
    ),
    Port(keys.PERMANENT_CHARGES, (ATOMS,), "float", "e", "latent charges q", needs=_CHARGED),
    Port(
        keys.SITE_CHARGES, (ATOMS,), "float", "e", "geometry-independent part of q", needs=_CHARGED
    ),
    Port(
        keys.INDUCED_CHARGES,
        (ATOMS,),
        "float",
        "e",
        "induced charges q_ind",
        needs=("induced_charges",) + _CHARGED,
    ),
    Port(
        keys.CHARGES,
        (ATOMS,),
        "float",
        "e",
        "q + q_ind, the charge an atom carries",
        needs=_CHARGED,
    ),
    Port(
        keys.PERMANENT_DIPOLES, (ATOMS, 3), "float", "e·Å", "latent dipoles μ", needs=("dipoles",)
    ),
    Port(
        keys.INDUCED_DIPOLES,
        (ATOMS, 3),
        "float",
        "e·Å",
        "induced dipoles μ_ind",
        needs=("induced_dipoles",),
    ),
    Port(
        keys.DIPOLES,
        (ATOMS, 3),
        "float",
        "e·Å",
        "μ + μ_ind, the point dipole an atom carries",
        needs=("dipoles_or_induced",),
    ),
    Port(
        keys.QUADRUPOLES,
        (ATOMS, 3, 3),
        "float",
        "e·Å²",
        "latent traceless quadrupoles Θ",
        needs=("quadrupoles",),
    ),
    Port(
        keys.POTENTIAL,
        (ATOMS,),
        "float",
        "V",
        "potential of the permanent multipoles",
        needs=_CHARGED,
    ),
    Port(
        keys.FIELD, (ATOMS, 3), "float", "V/Å", "field of the permanent multipoles", needs=_CHARGED
    ),
    Port(
        keys.POLARIZATION, (3,), "float", "e·Å", "total polarization P (all ranks)", needs=_CHARGED
    ),
    Port(
        keys.BEC,
        (ATOMS, 3, 3),
        "float",
        "e",
        "Born charges Z*_i,βγ = ∂P_β/∂r_iγ",
        needs=_CHARGED,
        on_request=True,
        rows="graph",
    ),
    Port(
        keys.POLARIZABILITY,
        (3, 3),
        "float",
        "e·Å²/V",
        "α = ∂P/∂E at fixed nuclei, every response channel (all ranks)",
        needs=_CHARGED,
        on_request=True,
    ),
    Port(
        keys.ATOMIC_POLARIZABILITY,
        (ATOMS, 3, 3),
        "float",
        "e·Å²/V",
        "∂P/∂E_i: α of a field acting on atom i only (Σ_i over all ranks = α)",
        needs=_CHARGED,
        on_request=True,
    ),
)

#: outputs an engine may name in ``requested`` (the derivatives)
REQUESTABLE: Tuple[str, ...] = tuple(p.name for p in ENGINE_OUTPUTS if p.on_request)
#: outputs of a whole frame (no row per atom)
PER_FRAME: Tuple[str, ...] = tuple(p.name for p in ENGINE_OUTPUTS if not p.per_atom)


def _switches(config: Mapping[str, Any]) -> Dict[str, bool]:
    """The model settings that decide which outputs exist, plus two derived switches (the
    long-range part runs for any permanent multipole or induced dipoles; see PolMLIP)."""
    out = {k: bool(v) for k, v in config.items() if isinstance(v, bool)}
    long_range = bool(config.get("charges") or config.get("dipoles") or config.get("quadrupoles"))
    out["long_range_or_response"] = long_range or bool(config.get("induced_dipoles"))
    out["dipoles_or_induced"] = bool(config.get("dipoles") or config.get("induced_dipoles"))
    return out


def declared_outputs(config: Mapping[str, Any]) -> List[Port]:
    """The outputs a model with these settings (``ModelConfig.to_dict()``) returns."""
    switches = _switches(config)
    return [p for p in ENGINE_OUTPUTS if all(switches.get(n, False) for n in p.needs)]


def declaration(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The ``inputs``, ``outputs`` and ``requestable`` entries of the metadata."""
    outputs = []
    for port in declared_outputs(config):
        entry = port.to_dict()
        entry.update(on_request=port.on_request, periodic_only=port.periodic_only, rows=port.rows)
        outputs.append(entry)
    inputs = []
    for port in ENGINE_INPUTS:
        entry = port.to_dict()
        entry["required"] = port.required
        inputs.append(entry)
    return {"inputs": inputs, "outputs": outputs, "requestable": list(REQUESTABLE)}


def _expected_shape(port: Port, n_atoms: int, n_local: int) -> List[int]:
    rows = n_atoms if port.rows == "graph" else n_local
    return [rows if d == ATOMS else int(d) for d in port.shape]


def check_outputs(
    outputs: Mapping[str, Any],
    config: Mapping[str, Any],
    n_atoms: int,
    n_local: int,
    requested: Sequence[str],
    periodic: bool,
) -> None:
    """Raise ValueError unless ``outputs`` are exactly the declared ones with their shapes.

    Args:
        outputs: what the module returned for one frame of ``n_atoms`` graph atoms, of which
            ``n_local`` local. requested: the on-request outputs asked for.
        periodic: whether the frame was periodic (periodic-only outputs exist then only).
    """
    wanted = {}
    for port in declared_outputs(config):
        if port.on_request and port.name not in requested:
            continue
        if port.periodic_only and not periodic:
            continue
        wanted[port.name] = port
    missing = sorted(set(wanted) - set(outputs))
    extra = sorted(set(outputs) - set(wanted))
    problems = []
    if missing:
        problems.append(f"declared but not returned: {missing}")
    if extra:
        problems.append(f"returned but not declared: {extra}")
    for name, port in wanted.items():
        if name in outputs:
            shape = list(outputs[name].shape)
            expected = _expected_shape(port, n_atoms, n_local)
            if shape != expected:
                problems.append(f"{name} has shape {shape}, declared {expected}")
    if problems:
        raise ValueError("the model's outputs do not match its declaration: " + "; ".join(problems))


def _shape_text(shape: Sequence[Any]) -> str:
    if not shape:
        return "scalar"
    dims = ["N" if d == ATOMS else "E" if d == EDGES else str(d) for d in shape]
    return "(" + ", ".join(dims) + (",)" if len(dims) == 1 else ")")


def _needs_text(port: Port) -> str:
    names = {
        "long_range_or_response": "a permanent multipole or induced dipoles",
        "dipoles_or_induced": "dipoles or induced_dipoles",
    }
    return " and ".join(names.get(n, n) for n in port.needs)


def markdown_table(which: Optional[str] = None) -> str:
    """The declared contract as Markdown tables (inputs, then outputs) for docs/export.md."""
    lines = [
        "| input | shape | dtype | unit | required | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for p in ENGINE_INPUTS:
        lines.append(
            f"| `{p.name}` | {_shape_text(p.shape)} | {p.dtype} | {p.unit or '–'} | "
            f"{'yes' if p.required else 'no'} | {p.description} |"
        )
    lines += [
        "",
        "| output | shape | unit | when | rows | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for p in ENGINE_OUTPUTS:
        parts = [_needs_text(p)] if p.needs else []
        if p.on_request:
            parts.append("on request")
        if p.periodic_only:
            parts.append("periodic frames")
        when = "; ".join(parts) or "always"
        rows = ("graph atoms" if p.rows == "graph" else "local atoms") if p.per_atom else "–"
        lines.append(
            f"| `{p.name}` | {_shape_text(p.shape)} | {p.unit or '–'} | {when} | {rows} | "
            f"{p.description} |"
        )
    return "\n".join(lines) + "\n"
