"""docs/configuration.md, generated from the configuration classes, so it cannot go stale.

Every key of the ``model``, ``data`` and ``training`` sections: its type (from the
annotation), its default, its allowed range (the rule :func:`polmlip.config_checks.check_fields`
enforces) and its description (the class docstring's ``Attributes:``, with the unit).
``tests/unit/test_config_doc.py`` fails when the committed page differs from this output.

Run from the repository root:  python -m polmlip.train.config_doc
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import typing
from typing import Dict, List

from ..config_checks import _type_name
from ..model.config import _RULES as MODEL_RULES
from ..model.config import LADDER, ModelConfig
from .config import _DATA_RULES, _TRAINING_RULES, DataConfig, TrainingConfig

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "configuration.md"

SECTIONS = (
    ("model", ModelConfig, MODEL_RULES),
    ("data", DataConfig, _DATA_RULES),
    ("training", TrainingConfig, _TRAINING_RULES),
)


def attribute_docs(cls) -> Dict[str, str]:
    """name -> description, from the ``Attributes:`` block of ``cls``'s docstring (entries
    ``a, b: text`` or ``a: text. b: text`` on one line, continuation lines indented)."""
    doc = cls.__doc__ or ""
    if "Attributes:" not in doc:
        return {}
    block = doc.split("Attributes:", 1)[1]
    entries: List[List[str]] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if re.match(r"\s*[a-z_]+(, [a-z_]+)*:", line) and indent <= 8:
            entries.append([line.strip()])
        elif entries:
            entries[-1].append(line.strip())
    out: Dict[str, str] = {}
    fields = {f.name for f in dataclasses.fields(cls)}
    any_field = "|".join(sorted(fields, key=len, reverse=True))
    for entry in entries:
        text = " ".join(entry)
        text = re.sub(r":\w+:`([^`]+)`", r"`\1`", text).replace("``", "`")
        # "a: text. b: text" or "a: text; b: text" (two fields on one line)
        for part in re.split(rf"(?<=[.;]) (?=(?:{any_field})(?:, [a-z_]+)*: )", text):
            named, _, desc = part.partition(": ")
            for name in named.split(", "):
                if name in fields:
                    out[name] = desc.strip()
    return out


def _default(field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
        if value is None:
            return "null"
        if isinstance(value, bool):
            return f"`{str(value).lower()}`"
        return f"`{value!r}`".replace("'", "")
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f"`{field.default_factory()!r}`"  # type: ignore[misc]
    return "required"


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "Every key of a `polmlip train` configuration (YAML), generated from the code by "
        "`python -m polmlip.train.config_doc` (a test fails when this page is stale). An "
        "unknown key, a value of the wrong type or outside its range is an error that names "
        "the key. Examples: `examples/train_water.yaml`, `examples/train_spice_bec.yaml`.",
        "",
        f"`model.ladder` (a rung of the ablation ladder, {list(LADDER)}) sets the head "
        "switches `charges`, `dipoles`, `quadrupoles`, `induced_charges`, `induced_dipoles` "
        "at once.",
    ]
    for section, cls, rules in SECTIONS:
        docs = attribute_docs(cls)
        hints = typing.get_type_hints(cls)
        lines += ["", f"## `{section}`", "", "| key | type | default | allowed | meaning |"]
        lines.append("|---|---|---|---|---|")
        for field in dataclasses.fields(cls):
            rule = rules.get(field.name)
            allowed = rule[1] if rule else "any"
            text = docs.get(field.name, "").rstrip(";").replace("|", "\\|")
            lines.append(
                f"| `{field.name}` | {_type_name(hints[field.name])} | {_default(field)} | "
                f"{allowed} | {text} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
