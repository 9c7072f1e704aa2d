"""docs/configuration.md is generated from the configuration classes and is up to date:
every key with its type, default, range and meaning (python -m polmlip.train.config_doc)."""

import dataclasses

from polmlip.model.config import ModelConfig
from polmlip.train.config import DataConfig, TrainingConfig
from polmlip.train.config_doc import DOC, attribute_docs, render


def test_configuration_page_is_current():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run python -m polmlip.train.config_doc"
    )


def test_every_key_is_described():
    for cls in (ModelConfig, DataConfig, TrainingConfig):
        docs = attribute_docs(cls)
        missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
        assert not missing, f"{cls.__name__} docstring lacks Attributes entries for {missing}"
