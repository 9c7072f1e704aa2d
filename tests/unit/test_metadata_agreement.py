"""The two loaders of a model file's metadata agree: Python's (polmlip.export.metadata, used by
the ASE calculator, OpenMM's Python side and every workflow) and the engines' (check_metadata
of cpp/core/model_loader.cpp, in LAMMPS and OpenMM) accept and refuse the same documents.

The documents: the metadata of an exported engine model and of a TorchForce-convention file,
and every change of one field of them: each field removed, or given a value of each JSON type
(null, a boolean, strings, integers in and out of range, a fraction, a list, an object).
The C++ side runs in the driver polmlip_metadata_check (cpp/tests/metadata_check.cpp).
"""

import copy
import json
import pathlib
import subprocess
import zipfile

import pytest

from polmlip.errors import InputError
from polmlip.export.io import export_model
from polmlip.export.metadata import check_metadata, strict_json
from polmlip.export.torchforce import export_torchforce
from polmlip.keys import FORMAT_VERSION, METADATA_FILE
from polmlip.model import ModelConfig, PolMLIP

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRIVER = ROOT / "build" / "polmlip_metadata_check"

pytestmark = pytest.mark.skipif(
    not DRIVER.exists(), reason="the native build (polmlip_metadata_check) is absent"
)

#: a value of each JSON type, and the edges the checks draw
VALUES = [None, True, False, "x", "atoms", "polmlip", "engine", "torchforce", "float32",
          "graph", 0, 1, -1, 3, FORMAT_VERSION + 1, 2**31, 2**70, 2.5, -2.5, 0.0, 1e300,
          [], ["H"], [1], {}, {"name": "x"}]  # fmt: skip


def _metadata(path: pathlib.Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(METADATA_FILE))
        return json.loads(archive.read(name))


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("meta")
    config = ModelConfig(elements=["H", "O"], channels=4, cutoff=3.5, kspace_method="ewald")
    export_model(PolMLIP(config).double(), tmp / "m.pt")
    export_torchforce(tmp / "m.pt", ["O", "H", "H"], tmp / "tf.pt", periodic=False)
    bases = [_metadata(tmp / "m.pt"), _metadata(tmp / "tf.pt")]
    docs = []
    for base in bases:
        docs.append(base)
        for path in _paths(base):
            docs.append(_changed(base, path, delete=True))
            docs += [_changed(base, path, value=v) for v in VALUES]
    return docs


def _paths(meta, prefix=()):
    """Every field of the metadata (nested objects, and the first entry of each list)."""
    for key, value in meta.items():
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from _paths(value, prefix + (key,))
        elif isinstance(value, list) and value:
            first = prefix + (key, 0)
            yield first
            if isinstance(value[0], dict):
                yield from _paths(value[0], first)
            elif isinstance(value[0], list) and value[0]:
                yield first + (0,)


def _changed(meta, path, delete=False, value=None):
    out = copy.deepcopy(meta)
    node = out
    for step in path[:-1]:
        node = node[step]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def _python(text: str) -> bool:
    try:
        check_metadata(strict_json(text), "model.pt")
    except InputError:
        return False
    return True


def test_python_and_cpp_loaders_accept_and_refuse_the_same_metadata(documents):
    texts = [json.dumps(d) for d in documents]
    done = subprocess.run(
        [str(DRIVER)], input="\0".join(texts).encode(), capture_output=True, check=True,
        timeout=300,
    )  # fmt: skip
    cpp = done.stdout.decode().splitlines()
    assert len(cpp) == len(texts)
    assert cpp[0] == "OK", cpp[0]  # the exported engine metadata loads
    disagree = []
    refused = 0
    for text, line in zip(texts, cpp):
        accepted = line == "OK"
        refused += not accepted
        if _python(text) != accepted:
            disagree.append(f"C++ {line[:160]!r} for {text[:300]}")
    print(f"{len(texts)} documents, {refused} refused by both")
    assert not disagree, f"{len(disagree)} disagreements, e.g.:\n" + "\n".join(disagree[:8])
    assert refused > 500  # the changes do reach the checks (most fields are not checked)
