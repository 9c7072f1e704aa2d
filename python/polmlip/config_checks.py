"""Type and range checks of the configuration dataclasses (``model``, ``data``, ``training``).

Every field is checked against its type annotation, then against an optional range rule, and
a mismatch raises :class:`polmlip.errors.InputError` naming the setting, what it must be and
what it got. The same rules apply to a YAML file, a Python dict and a command-line override.

Accepted forms: an ``int`` field takes an integer (an integral float such as ``3.0`` too, never
a bool); a ``float`` field takes any finite number, or a string that reads as one (YAML 1.1
reads ``1e-3`` without a dot as a string); ``bool`` and ``str`` fields take only their type.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import typing
from typing import Any, Callable, Dict, Iterable, Tuple

from .errors import InputError

#: A range rule: (predicate on the checked value, what the value must be, in words).
Rule = Tuple[Callable[[Any], bool], str]


def finite_number(value: Any, what: str, unit: str = "") -> float:
    """``value`` as a float if it is a finite real number (not a bool or a string), else an
    InputError ``"{what} must be a finite number{unit}, got {value!r}"``.

    For values given through the Python API (a calculator's total charge, a field limit);
    configuration files go through :func:`check_fields`, which also reads numeric strings.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a finite number{unit}, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number{unit}, got {value!r}")
    return float(value)


def reject_unknown(names: Iterable[str], known: Iterable[str], where: str) -> None:
    """An InputError naming every one of ``names`` not in ``known`` (with the closest known
    name for each, a misspelling's likely intent) and listing the known ones; ``where`` says
    what takes them (e.g. ``"PolMLIPCalculator"``). A misspelt setting is never ignored."""
    known = sorted(set(known))
    unknown = sorted(set(names) - set(known))
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            hints.append(f"{close[0]!r} instead of {name!r}")
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    raise InputError(f"unknown keyword(s) {unknown} for {where}{hint}; known: {known}")


def at_least(low: float) -> Rule:
    return (lambda v: v >= low, f"≥ {low:g}")


def positive() -> Rule:
    return (lambda v: v > 0, "> 0")


def between(low: float, high: float, closed: str = "") -> Rule:
    """``low < v < high``; ``closed`` may hold ``"low"``/``"high"`` to include an end."""
    lo_ok = (lambda v: v >= low) if "low" in closed else (lambda v: v > low)
    hi_ok = (lambda v: v <= high) if "high" in closed else (lambda v: v < high)
    text = (
        ("[" if "low" in closed else "(")
        + f"{low:g}, {high:g}"
        + ("]" if "high" in closed else ")")
    )
    return (lambda v: lo_ok(v) and hi_ok(v), f"in {text}")


def one_of(*choices: Any) -> Rule:
    return (lambda v: v in choices, f"one of {list(choices)}")


def _plural(name: str) -> str:
    """ "a string" -> "strings", "an integer" -> "integers" (type names in messages)."""
    for article in ("a ", "an "):
        if name.startswith(article):
            name = name[len(article) :]
    return name if name.endswith("s") else name + "s"


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " (or null)"
    if origin in (list, tuple):
        return f"a list of {_plural(_type_name(typing.get_args(hint)[0]))}"
    if origin is dict:
        return f"a mapping to {_plural(_type_name(typing.get_args(hint)[1]))}"
    if hint is Any:
        return "a value"
    return {
        int: "an integer",
        float: "a finite number",
        bool: "true or false",
        str: "a string",
    }.get(hint, str(hint))


class _Mismatch(Exception):
    pass


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` as the annotated type, or raise _Mismatch."""
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except _Mismatch:
                pass
        raise _Mismatch
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        return [_coerce(v, typing.get_args(hint)[0]) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        key_t, val_t = typing.get_args(hint)
        return {_coerce(k, key_t): _coerce(v, val_t) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise _Mismatch
        return value
    if hint is int:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise _Mismatch
    if hint is float:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _Mismatch from None
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _Mismatch
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _Mismatch
        return value
    return value


def check_fields(obj: Any, section: str, rules: Dict[str, Rule]) -> None:
    """Check (and normalise in place) every field of the dataclass ``obj``.

    Args:
        obj: a dataclass instance. section: its name in messages (``"training"``).
        rules: extra range rules per field name, applied to non-null values; for list and
            mapping fields the rule is applied to every item (mapping: every value).
    """
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        hint = hints[f.name]
        try:
            checked = _coerce(value, hint)
        except _Mismatch:
            raise InputError(
                f"{section}.{f.name} must be {_type_name(hint)}, got {value!r}"
            ) from None
        if f.name in rules and checked is not None:
            ok, what = rules[f.name]
            items = (
                checked.values()
                if isinstance(checked, dict)
                else (checked if isinstance(checked, list) else [checked])
            )
            for item in items:
                if not ok(item):
                    raise InputError(f"{section}.{f.name} must be {what}, got {value!r}")
        setattr(obj, f.name, checked)
