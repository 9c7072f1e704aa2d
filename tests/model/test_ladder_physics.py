"""The model's physics checks (:mod:`physics_mixin`) on every ablation-ladder rung, in
float32 and float64.

Each rung is a small model (4 channels, lmax 2, cutoff 3.5 Å) with default settings
otherwise (bond charge conservation, PME). Two layers, so that the second layer's tensor
products of l ≥ 1 features are exercised. Models are built as the trainer and the CLI build
them, ``PolMLIP(cfg).to(dtype)``: the float32 and float64 models of a rung share their
weights exactly (one float32 initialisation, cast), so the float32 derivatives can be
checked against the float64 ones, and the float64 model carries whatever constants that
construction gives it.
"""

import pytest
import torch
from physics_mixin import PhysicsChecks

from polmlip.model import ModelConfig, PolMLIP
from polmlip.model.config import LADDER

SMALL = {"channels": 4, "lmax": 2, "num_layers": 2, "num_basis": 6, "radial_hidden": 8}
DTYPES = {"float64": torch.float64, "float32": torch.float32}
VARIANTS = [(rung, name) for rung in LADDER for name in DTYPES]


def ladder_model(rung: str, dtype: torch.dtype, seed: int = 0) -> PolMLIP:
    """The small model of ``rung``; the same ``seed`` gives the same weights in any dtype."""
    torch.manual_seed(seed)
    cfg = ModelConfig.from_dict(
        {
            "elements": list(PhysicsChecks.ELEMENTS),
            "cutoff": PhysicsChecks.CUTOFF,
            "ladder": rung,
            **SMALL,
        }
    )
    return PolMLIP(cfg).to(dtype)


@pytest.fixture(scope="module", params=VARIANTS, ids=[f"{r}-{d}" for r, d in VARIANTS])
def variant(request):
    return request.param


@pytest.fixture(scope="module")
def rung(variant):
    return variant[0]


@pytest.fixture(scope="module")
def dtype(variant):
    return DTYPES[variant[1]]


@pytest.fixture(scope="module")
def model(rung, dtype):
    return ladder_model(rung, dtype)


class TestLadderPhysics(PhysicsChecks):
    """Every check of :class:`PhysicsChecks` for every rung × dtype."""
