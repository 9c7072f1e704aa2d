"""Reading a model file's metadata when Python loads it: strict JSON (:func:`strict_json`)
as the engines' reader takes it, and the checks of its fields (:func:`check_metadata`), rule
for rule those of the engines' loader (``check_metadata`` in cpp/core/model_loader.cpp).

Both loaders accept and refuse the same metadata: ``tests/unit/test_metadata_agreement.py``
runs the two on the metadata of exported files and on every single-field change of it
(each field removed, or given a value of each JSON type and out of range). The messages say
the same thing in each language's words.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Tuple

from ..errors import InputError
from ..keys import FORMAT_VERSION

#: the kinds of model file (``kind``): the engine model and openmm-torch's convention
KINDS = ("engine", "torchforce")
#: the network precisions a file may declare
DTYPES = ("float64", "float32")
#: rows of a per-atom output: every graph atom (ghosts included) or the local atoms
ROWS = ("graph", "local")
INT32_MAX = 2**31 - 1
INT64 = (-(2**63), 2**63 - 1)


#: the deepest nesting of lists and objects the metadata may have (cpp/core/json.h kMaxDepth)
JSON_MAX_DEPTH = 64


def strict_json(text: str) -> Any:
    """``text`` parsed as JSON (RFC 8259) as the engines' reader (cpp/core/json.cpp) takes
    it: where Python's json module is lax, ValueError for NaN and Infinity, a number beyond
    double, a key repeated in one object, a lone UTF-16 surrogate and nesting deeper than
    :data:`JSON_MAX_DEPTH`."""

    def no_constant(name: str):
        raise ValueError(f"{name} is not a JSON number")

    def finite(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            raise ValueError(f"number out of range: {token}")
        return value

    def unique_keys(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError(f'the key "{key}" appears twice')
            seen[key] = value
        return seen

    def check(value, depth: int) -> None:
        if isinstance(value, str):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
                raise ValueError("a lone UTF-16 surrogate in a string")
            return
        if isinstance(value, (list, dict)):
            if depth >= JSON_MAX_DEPTH:
                raise ValueError(f"nesting deeper than {JSON_MAX_DEPTH}")
            items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
            for key, item in items:
                if key is not None:
                    check(key, depth + 1)
                check(item, depth + 1)

    value = json.loads(
        text, parse_constant=no_constant, parse_float=finite, object_pairs_hook=unique_keys
    )
    check(value, 0)
    return value


class Corrupted(ValueError):
    """A problem with the content of the metadata (the file's name is added by the caller)."""


def _described(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return "a string"


def _wrong(label: str, v: Any, wanted: str):
    raise Corrupted(f"{label} is {_described(v)}, not {wanted}")


def _required(obj: Dict[str, Any], key: str, label: str) -> Any:
    if key not in obj:
        raise Corrupted(f"no {label}")
    return obj[key]


def _string(v: Any, label: str) -> str:
    if not isinstance(v, str):
        _wrong(label, v, "a string")
    return v


def _number(v: Any, label: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _wrong(label, v, "a number")
    return float(v)


def _integer(v: Any, label: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        _wrong(label, v, "an integer")
    if not INT64[0] <= v <= INT64[1]:
        raise Corrupted(f"{label} is out of range")
    return v


def _boolean(v: Any, label: str) -> bool:
    if not isinstance(v, bool):
        _wrong(label, v, "true or false")
    return v


def _strings(v: Any, label: str) -> list:
    if not isinstance(v, list):
        _wrong(label, v, "a list of strings")
    return [_string(item, f"{label}[{k}]") for k, item in enumerate(v)]


def _positive(meta: Dict[str, Any], key: str) -> float:
    label = f"'{key}'"
    value = _number(_required(meta, key, label), label)
    if not (value > 0.0 and math.isfinite(value)):
        raise Corrupted(f"{label} is {value}, not a positive number")
    return value


def _output(entry: Any, where: str) -> Tuple[str, bool]:
    if not isinstance(entry, dict):
        _wrong(where, entry, "an object")
    name = _string(_required(entry, "name", f"'name' in {where}"), f"'name' of {where}")
    of = f" of output '{name}'"
    shape = _required(entry, "shape", f"'shape'{of}")
    if not isinstance(shape, list):
        _wrong(f"'shape'{of}", shape, "a list")
    atoms_first = False
    for d, dim in enumerate(shape):
        integer = isinstance(dim, int) and not isinstance(dim, bool)
        if d == 0 and dim == "atoms":
            atoms_first = True
        elif not (integer and 0 <= dim <= INT64[1]):
            raise Corrupted(
                f"'shape'{of} has the entry {dim!r} (wanted \"atoms\" first, else sizes)"
            )
    per_atom = (
        _boolean(entry["per_atom"], f"'per_atom'{of}") if "per_atom" in entry else atoms_first
    )
    if per_atom != atoms_first:
        raise Corrupted(f"'per_atom'{of} does not match its shape")
    if "rows" in entry and _string(entry["rows"], f"'rows'{of}") not in ROWS:
        raise Corrupted(f"'rows'{of} is {entry['rows']!r}, not 'graph' or 'local'")
    for flag in ("on_request", "periodic_only"):
        if flag in entry:
            _boolean(entry[flag], f"'{flag}'{of}")
    if "unit" in entry:
        _string(entry["unit"], f"'unit'{of}")
    return name, per_atom


def _contract(meta: Dict[str, Any]) -> None:
    if "outputs" not in meta:
        raise Corrupted(
            "no 'outputs' (the declaration of what the model returns); re-export it with this "
            "polmlip: polmlip export CHECKPOINT -o model.pt"
        )
    outputs = meta["outputs"]
    if not isinstance(outputs, list):
        _wrong("'outputs'", outputs, "a list")
    seen = set()
    for k, entry in enumerate(outputs):
        name, _ = _output(entry, f"outputs[{k}]")
        if name in seen:
            raise Corrupted(f"output '{name}' is declared twice")
        seen.add(name)
    if "inputs" in meta:
        inputs = meta["inputs"]
        if not isinstance(inputs, list):
            _wrong("'inputs'", inputs, "a list")
        for k, entry in enumerate(inputs):
            where = f"inputs[{k}]"
            if not isinstance(entry, dict):
                _wrong(where, entry, "an object")
            _string(_required(entry, "name", f"'name' in {where}"), f"'name' of {where}")
    if "requestable" in meta:
        _strings(meta["requestable"], "'requestable'")
    if "features" in meta:
        features = meta["features"]
        if not isinstance(features, dict):
            _wrong("'features'", features, "an object")
        if "width" in features:
            width = _integer(features["width"], "'width' of 'features'")
            if not 0 <= width <= INT32_MAX:
                raise Corrupted("'width' of 'features' is out of range")
        if "halo_exchange" in features:
            _boolean(features["halo_exchange"], "'halo_exchange' of 'features'")


def check_metadata(meta: Any, label: str) -> Dict[str, Any]:
    """Check the parsed metadata ``meta`` of the model file ``label``; returns it.

    Raises InputError: "not a polmlip model file", a format newer or (for engine files)
    older than this polmlip reads, an unknown kind, or "has corrupted polmlip metadata: …"
    naming the field.
    """
    try:
        if not isinstance(meta, dict):
            _wrong("the metadata", meta, "an object")
        if meta.get("format") != "polmlip":
            raise InputError(f"{label!r} is not a polmlip model file")
        version_of = "?"
        if "polmlip_version" in meta:
            version_of = _string(meta["polmlip_version"], "'polmlip_version'")
        version = _integer(_required(meta, "format_version", "'format_version'"),
                           "'format_version'")  # fmt: skip
        if version < 1:
            raise Corrupted(f"'format_version' is {version}")
        if version > FORMAT_VERSION:
            raise InputError(
                f"{label!r} was written in model format {version} (polmlip {version_of}), "
                f"newer than this polmlip reads (format {FORMAT_VERSION}); upgrade polmlip"
            )
        kind = _string(meta["kind"], "'kind'") if "kind" in meta else "engine"
        if kind not in KINDS:
            raise InputError(f"{label!r} is a polmlip file of unknown kind {kind!r}")
        if kind == "engine" and version < FORMAT_VERSION:
            raise InputError(
                f"{label!r} was written by an older polmlip (model format {version}, "
                f"positional inputs); this polmlip reads format {FORMAT_VERSION}: re-export it "
                "from its checkpoint with `polmlip export CHECKPOINT -o MODEL`"
            )
        if not _strings(_required(meta, "elements", "'elements'"), "'elements'"):
            raise Corrupted("'elements' is empty")
        _positive(meta, "cutoff")
        _positive(meta, "ghost_cutoff")
        if "min_distance" in meta:
            value = _number(meta["min_distance"], "'min_distance'")
            if not (value >= 0.0 and math.isfinite(value)):
                raise Corrupted(f"'min_distance' is {value}")
        if "long_range" in meta:
            long_range = meta["long_range"]
            if not isinstance(long_range, dict):
                _wrong("'long_range'", long_range, "an object")
            value = long_range.get("real_space_cutoff")
            if value is not None:
                value = _number(value, "'real_space_cutoff' of 'long_range'")
                if not (value >= 0.0 and math.isfinite(value)):
                    raise Corrupted(f"'real_space_cutoff' is {value}")
        dtype = _string(meta["dtype"], "'dtype'") if "dtype" in meta else "float64"
        if dtype not in DTYPES:
            raise Corrupted(f"'dtype' is {dtype!r}, not 'float64' or 'float32'")
        if kind == "torchforce":
            _strings(_required(meta, "particle_elements", "'particle_elements'"),
                     "'particle_elements'")  # fmt: skip
            if "periodic" in meta:
                _boolean(meta["periodic"], "'periodic'")
        else:
            _contract(meta)
    except Corrupted as exc:
        raise InputError(f"{label!r} has corrupted polmlip metadata: {exc}") from None
    return meta
