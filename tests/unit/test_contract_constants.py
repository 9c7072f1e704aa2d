"""The engine contract's names and constants are written once.

``python/polmlip/keys.py`` and ``python/polmlip/units.py`` define them; the C++ plugins read
them from ``build/generated/polmlip_contract.h``, which ``scripts/contract_header.py`` writes
from those two files at build time. These tests check that the built header is the one the
script writes now, that it holds exactly the Python values, and that no other source file
retypes one of the constants.
"""

import importlib.util
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from polmlip import keys, units

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "contract_header.py"
BUILT_HEADER = ROOT / "build" / "generated" / "polmlip_contract.h"
KEYS = "python/polmlip/keys.py"
UNITS = "python/polmlip/units.py"

# (what, regex, the one file allowed to match). Python definitions start a line
# (``NAME = ...``, ``NAME: Final[...] = ...``); C++ ones are ``kName = ...``.
_PY = r"^[ \t]*{}[ \t]*(?::[^=\n]*)?=(?!=)"
_CPP = r"\b{}\s*=(?!=)"
RULES = [
    ("FORMAT_VERSION", _PY.format("FORMAT_VERSION"), KEYS),
    ("kFormatVersion", _CPP.format("kFormatVersion"), None),
    ("METADATA_FILE", _PY.format("METADATA_FILE"), KEYS),
    ("kMetadataFile", _CPP.format("kMetadataFile"), None),
    ("the metadata file name", r"[\"']polmlip_metadata\.json[\"']", KEYS),
    ("ATOMS_PER_TORCH_THREAD", _PY.format("ATOMS_PER_TORCH_THREAD"), UNITS),
    ("kAtomsPerTorchThread", _CPP.format("kAtomsPerTorchThread"), None),
    ("AtomsPerTorchThread = <number>", r"\bAtomsPerTorchThread\s*=\s*[0-9]", None),
    # 2048 particles per thread (the k-space and Ewald chunk sizes of 2048 are other things)
    ("thread count = 2048", r"(?i)^.*thread.*=\s*2048\b", UNITS),
    ("MIN_DISTANCE", _PY.format("MIN_DISTANCE"), UNITS),
    ("kMinDistance", _CPP.format("kMinDistance"), None),
    ("NM_TO_ANGSTROM", _PY.format("NM_TO_ANGSTROM"), UNITS),
    ("kNmToAngstrom", _CPP.format("kNmToAngstrom"), None),
    ("EV_TO_KCAL_PER_MOL", _PY.format("EV_TO_KCAL_PER_MOL"), UNITS),
    ("kEvToKcalPerMol", _CPP.format("kEvToKcalPerMol"), None),
    ("EV_TO_KJ_PER_MOL", _PY.format("EV_TO_KJ_PER_MOL"), UNITS),
    ("kEvToKjPerMol", _CPP.format("kEvToKjPerMol"), None),
    ("1 eV in kcal/mol", r"23\.0605478", UNITS),
    ("1 eV in kJ/mol", r"96\.4853321", UNITS),
]
SUFFIXES = (".py", ".cpp", ".h", ".cu")
# Independent reference implementations type their constants on purpose (they check polmlip
# against numbers not taken from it); this file holds the patterns themselves.
EXEMPT = ("tests/references/", "tests/unit/test_contract_constants.py")


def _script():
    spec = importlib.util.spec_from_file_location("contract_header", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source_files():
    """Tracked and new (not ignored) source files, relative to the repository root."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    return [
        p
        for p in out
        if (p.endswith(SUFFIXES) or pathlib.PurePosixPath(p).name == "CMakeLists.txt")
        and not p.startswith(EXEMPT)
        and (ROOT / p).is_file()
    ]


def definitions(root, files):
    """{rule: [(file, line number, line)]} of every line matching a rule outside its file."""
    found = {}
    for rel in files:
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        for what, pattern, allowed in RULES:
            if rel == allowed:
                continue
            for m in re.finditer(pattern, text, flags=re.MULTILINE):
                row = text.count("\n", 0, m.start()) + 1
                line = text.splitlines()[row - 1].strip()
                found.setdefault(what, []).append((rel, row, line))
    return found


def test_built_header_is_current(tmp_path):
    if not (ROOT / "build").is_dir():
        pytest.skip("no build directory")
    if not BUILT_HEADER.is_file():
        pytest.skip("build/generated/polmlip_contract.h not generated yet (cmake --build build)")
    fresh = tmp_path / "polmlip_contract.h"
    subprocess.run([sys.executable, str(SCRIPT), str(fresh)], check=True)
    assert BUILT_HEADER.read_bytes() == fresh.read_bytes(), (
        "build/generated/polmlip_contract.h is stale: rebuild (cmake --build build)"
    )


def test_header_rewritten_only_on_change(tmp_path):
    out = tmp_path / "h.h"
    script = _script()
    assert script.write_if_changed(out, "a\n")
    assert not script.write_if_changed(out, "a\n")
    assert script.write_if_changed(out, "b\n")
    assert out.read_text() == "b\n" and list(tmp_path.iterdir()) == [out]


def test_names():
    camel = _script().camel_name
    assert camel("SPECIES") == "kSpecies"
    assert camel("EDGE_INDEX") == "kEdgeIndex"
    assert camel("EV_TO_KCAL_PER_MOL") == "kEvToKcalPerMol"


def _python_constants():
    out = {}
    for module in (keys, units):
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, (str, int, float)):
                out[(module.__name__.rsplit(".", 1)[1], _script().camel_name(name))] = value
    return out


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler")
def test_header_holds_the_python_values(tmp_path):
    header = tmp_path / "polmlip_contract.h"
    subprocess.run([sys.executable, str(SCRIPT), str(header)], check=True)
    constants = _python_constants()
    prints = []
    for (namespace, cname), value in constants.items():
        fmt = "[%s]" if isinstance(value, str) else "%.17g" if isinstance(value, float) else "%lld"
        cast = "(long long)" if isinstance(value, int) and not isinstance(value, bool) else ""
        prints.append(
            f'std::printf("{namespace}.{cname}={fmt}\\n", {cast}polmlip::{namespace}::{cname});'
        )
    main = tmp_path / "main.cpp"
    main.write_text(
        '#include <cstdio>\n#include "polmlip_contract.h"\nint main() {\n'
        + "\n".join(prints)
        + "\nreturn 0;\n}\n"
    )
    exe = tmp_path / "main"
    subprocess.run(
        ["c++", "-std=c++17", "-Wall", "-Werror", "-I", str(tmp_path), str(main), "-o", str(exe)],
        check=True,
    )
    printed = dict(
        line.split("=", 1)
        for line in subprocess.run(
            [str(exe)], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    for (namespace, cname), value in constants.items():
        text = printed[f"{namespace}.{cname}"]
        if isinstance(value, str):
            assert text == f"[{value}]", cname
        elif isinstance(value, float):
            assert float(text) == value, cname  # %.17g round-trips: the very same double
        else:
            assert int(text) == value, cname
    assert printed["keys.kFormatVersion"] == str(keys.FORMAT_VERSION)
    assert float(printed["units.kMinDistance"]) == units.MIN_DISTANCE


def test_each_constant_is_defined_once():
    found = definitions(ROOT, _source_files())
    lines = [
        f"{what}: {rel}:{row}: {line}"
        for what, hits in sorted(found.items())
        for rel, row, line in hits
    ]
    assert not lines, (
        "contract constants retyped outside python/polmlip/keys.py and units.py (import them "
        "there; C++ includes polmlip_contract.h):\n" + "\n".join(lines)
    )


def test_a_duplicate_is_found(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\nATOMS_PER_TORCH_THREAD = 2048\nif FORMAT_VERSION:\n")
    (tmp_path / "b.h").write_text("constexpr double kEvToKcalPerMol = 23.060547830619026;\n")
    (tmp_path / "c.cpp").write_text('load(x, "polmlip_metadata.json");\nif (v == kFormatVersion)\n')
    found = definitions(tmp_path, ["a.py", "b.h", "c.cpp"])
    assert set(found) == {
        "ATOMS_PER_TORCH_THREAD",
        "thread count = 2048",
        "kEvToKcalPerMol",
        "1 eV in kcal/mol",
        "the metadata file name",
    }
    assert found["ATOMS_PER_TORCH_THREAD"] == [("a.py", 2, "ATOMS_PER_TORCH_THREAD = 2048")]
