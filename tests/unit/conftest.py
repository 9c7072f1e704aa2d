"""Fixtures shared by the unit tests."""

import pytest


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A small untrained H/O model with induced charges and dipoles, exported."""
    import torch

    from polmlip.export.io import export_model
    from polmlip.model import ModelConfig, PolMLIP

    torch.manual_seed(0)
    cfg = ModelConfig(
        elements=["H", "O"], channels=6, cutoff=3.5, induced_charges=True, induced_dipoles=True
    )
    path = tmp_path_factory.mktemp("tiny_model") / "m.pt"
    export_model(PolMLIP(cfg).double(), path)
    return path
