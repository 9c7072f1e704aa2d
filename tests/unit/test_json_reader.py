"""The C++ core's JSON reader (cpp/core/json.cpp, which reads every model file's metadata in
LAMMPS and OpenMM) against Python's json module on a corpus: the same values for every valid
document, an error for every document Python refuses, and an error for the few that Python
takes but JSON (RFC 8259) does not allow or the reader refuses on purpose.

The driver is the CMake target polmlip_json_check (cpp/tests/json_check.cpp).
"""

import json
import pathlib
import subprocess

import pytest

from polmlip.export.io import export_model
from polmlip.export.metadata import strict_json
from polmlip.keys import METADATA_FILE
from polmlip.model import ModelConfig, PolMLIP

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRIVER = ROOT / "build" / "polmlip_json_check"

pytestmark = pytest.mark.skipif(
    not DRIVER.exists(), reason="the native build (polmlip_json_check) is absent"
)

VALID = [
    "{}",
    "[]",
    "0",
    "-0",
    "12",
    "-12",
    "1.5",
    "-1.5e-3",
    "1E+10",
    "0.1",
    "2.2250738585072014e-308",
    "5e-324",
    "1.7976931348623157e308",
    "9223372036854775807",
    "-9223372036854775808",
    "123456789012345678901234",
    '"a"',
    '""',
    '"\\u00e9 \\u4e2d"',
    '"\\ud83d\\ude00"',
    '"é, 中, 😀 written raw"',
    '"tab\\t newline\\n cr\\r bs\\b ff\\f slash\\/ quote\\" backslash\\\\"',
    '"\\u0001\\u001f"',
    "true",
    "false",
    "null",
    ' \n\t {"a" : [1, 2, {"b": null}] , "c":"d"} \r\n',
    '{"z": 1, "a": 2, "m": {"y": [], "x": {}}}',
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
]

#: refused by Python's json module too
INVALID = [
    "",
    " ",
    "{",
    "[1,]",
    '{"a":1,}',
    "[1 2]",
    "01",
    "-01",
    "1.",
    ".5",
    "+1",
    "--1",
    "1e",
    "1e+",
    "'a'",
    '"\\x"',
    '"unterminated',
    '"raw \x01 control"',
    '"raw \n newline"',
    "tru",
    "nul",
    '{"a" 1}',
    "{1: 2}",
    "[1]x",
    "1 2",
    '"\\u12"',
    '"\\uZZZZ"',
    "[",
    "]",
    '{"a"}',
]

#: taken by Python's json module, refused by the reader (and by polmlip's Python reader of the
#: metadata, ``strict_json``): not JSON (NaN, Infinity), or refused on purpose (a repeated
#: key, a lone surrogate, a number beyond double, deep nesting)
REFUSED_ON_PURPOSE = [
    "NaN",
    "Infinity",
    "-Infinity",
    '{"a": NaN}',
    '{"a": 1, "a": 2}',
    '"\\ud800"',
    '"\\udc00 alone"',
    '"\\ud800\\u0041"',
    "1e400",
    "[" * 65 + "]" * 65,
]


def _run(text: str) -> str:
    done = subprocess.run(
        [str(DRIVER)], input=text.encode(), capture_output=True, check=True, timeout=30
    )
    return done.stdout.decode().rstrip("\n")


def _typed(value):
    """Values with their JSON types kept apart (Python's 1 == 1.0 == True)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", value)
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("text", VALID)
def test_valid_documents_read_as_python_reads_them(text):
    out = _run(text)
    assert out.startswith("OK "), out
    expected = json.loads(text)
    if isinstance(expected, int) and not -(2**63) <= expected < 2**63:
        expected = float(expected)  # beyond int64 the reader holds a double
    assert _typed(json.loads(out[3:])) == _typed(expected)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_documents_are_refused_as_python_refuses_them(text):
    with pytest.raises(ValueError):
        json.loads(text)
    out = _run(text)
    assert out.startswith("ERROR ") and " at byte " in out, out


@pytest.mark.parametrize("text", REFUSED_ON_PURPOSE)
def test_non_json_that_python_takes_is_refused(text):
    """By the C++ reader and by polmlip's Python reader of the metadata alike."""
    json.loads(text)  # Python's json module takes it
    out = _run(text)
    assert out.startswith("ERROR "), out
    with pytest.raises(ValueError):
        strict_json(text)


@pytest.mark.parametrize("text", VALID)
def test_python_metadata_reader_takes_what_the_engines_take(text):
    assert _typed(strict_json(text)) == _typed(json.loads(text))


def test_exported_metadata_reads_the_same(tmp_path):
    """The metadata of an exported model (every head), as the plugins read it."""
    import zipfile

    config = ModelConfig(elements=["H", "O"], channels=4, cutoff=3.5, quadrupoles=True,
                         anisotropic_alpha=True, kspace_method="ewald")  # fmt: skip
    export_model(PolMLIP(config).double(), tmp_path / "m.pt")
    with zipfile.ZipFile(tmp_path / "m.pt") as archive:
        name = next(n for n in archive.namelist() if n.endswith(METADATA_FILE))
        text = archive.read(name).decode()
    out = _run(text)
    assert out.startswith("OK ")
    assert _typed(json.loads(out[3:])) == _typed(json.loads(text))
