"""The package's imports run one way, from the top of the layer list to the bottom (the
design's "Layers"): every ``import`` of every module, at module level or inside a function,
is read from the source and checked."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "python" / "polmlip"

#: top to bottom; a module may import its own package and anything in a lower layer. The
#: packages of one layer are peers and do not import each other, except in the base layer.
LAYERS = [
    ("entry points", {"__main__", "ase", "openmm"}),  # console script, user-facing shims
    ("cli", {"cli"}),
    ("workflows", {"workflows"}),
    ("QM reference data", {"qmdata"}),  # a workflow, not runtime data code
    ("integrations", {"integrations"}),
    ("export and training", {"export", "train"}),
    ("model", {"model"}),
    ("learnable parts, physics, data", {"nn", "electrostatics", "data"}),
]
#: everything else (keys, units, errors, fileio, the operator registry and its references)
BASE = "keys, units, errors and the operator registry"


def layer_of(top: str) -> int:
    for rank, (_, members) in enumerate(LAYERS):
        if top in members:
            return rank
    return len(LAYERS)


def _top(module: str) -> str:
    return module.split(".")[0]


def imports_of(path: pathlib.Path):
    """(imported module relative to polmlip, line) for every polmlip import in ``path``."""
    rel = path.relative_to(PACKAGE).with_suffix("")
    package = list(rel.parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                if node.module:
                    yield ".".join(base + [node.module]), node.lineno
                else:
                    for alias in node.names:
                        yield ".".join(base + [alias.name]), node.lineno
            elif node.module and node.module.startswith("polmlip."):
                yield node.module[len("polmlip.") :], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("polmlip."):
                    yield alias.name[len("polmlip.") :], node.lineno


def violations():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        me = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if me == "__init__":
            me = "__init__"  # the package's own init: base layer
        mine = layer_of(me)
        for target, line in imports_of(path):
            if not target:
                continue
            top = _top(target)
            if top == me:
                continue
            theirs = layer_of(top)
            upward = theirs < mine
            peer = theirs == mine and mine < len(LAYERS)
            if upward or peer:
                names = [n for n, _ in LAYERS] + [BASE]
                found.append(
                    f"{rel}:{line} imports polmlip.{target}: {names[mine]} -> {names[theirs]}"
                )
    return found


def test_imports_follow_the_layer_order():
    found = violations()
    assert not found, "imports against the layer order:\n" + "\n".join(found)


def test_every_package_has_a_layer():
    """A new package must be placed in :data:`LAYERS` (or be a base-layer module)."""
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    placed = set().union(*(members for _, members in LAYERS))
    assert packages <= placed, f"packages without a layer: {sorted(packages - placed)}"


@pytest.mark.parametrize(
    "source, target, bad",
    [("data", "integrations", True), ("electrostatics", "nn", True), ("cli", "data", False)],
)
def test_the_check_itself(source, target, bad):
    """The rule flags an upward and a peer import and lets a downward one pass."""
    mine, theirs = layer_of(source), layer_of(target)
    assert (theirs < mine or (theirs == mine and source != target)) == bad
