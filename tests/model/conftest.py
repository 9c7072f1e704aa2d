"""Fixtures for model-level tests."""

import pytest
import torch

from polmlip.model import ModelConfig, PolMLIP


@pytest.fixture(scope="module")
def full_model():
    torch.manual_seed(0)
    cfg = ModelConfig(
        elements=["H", "O"],
        channels=6,
        quadrupoles=True,
        anisotropic_alpha=True,
        induced_charges=True,
        induced_dipoles=True,
        cutoff=3.5,
    )
    return PolMLIP(cfg).double()
