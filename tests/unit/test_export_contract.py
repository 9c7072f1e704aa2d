"""The exported file: its documented contract is current, its mode is the usual one, and
files of the older positional format are refused with a message that says to re-export."""

import importlib.util
import os
import pathlib

import pytest
import torch

from polmlip import keys
from polmlip.errors import InputError
from polmlip.export import export_model, load_exported
from polmlip.model import ModelConfig, PolMLIP

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_show_the_declared_contract():
    """docs/export.md holds exactly the tables generated from polmlip.export.contract."""
    doc = _script("contract_doc")
    text = doc.DOC.read_text(encoding="utf-8")
    assert doc.rendered(text) == text, "run: python scripts/contract_doc.py"
    assert "| `induced_charges` | (N,) | e |" in text


@pytest.fixture(scope="module")
def small_model_file(tmp_path_factory):
    torch.manual_seed(0)
    cfg = ModelConfig(elements=["H", "O"], channels=4, cutoff=3.0, num_layers=1)
    path = tmp_path_factory.mktemp("export") / "model.pt"
    export_model(PolMLIP(cfg).double(), path)
    return path


def test_model_file_has_the_usual_mode(small_model_file):
    umask = os.umask(0)
    os.umask(umask)
    assert small_model_file.stat().st_mode & 0o777 == 0o666 & ~umask


def test_older_positional_format_is_refused(small_model_file, tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "model"))
    from model_helpers import with_format_version

    old = with_format_version(small_model_file, tmp_path / "old.pt", keys.FORMAT_VERSION - 1)
    with pytest.raises(InputError, match="older polmlip .* re-export it"):
        load_exported(old)
