"""The model's physics checks (:mod:`physics_mixin`) on every ablation-ladder rung, in
float32 and float64, and on the MACE backbone (its short-range rung and the full ladder).

Each rung is a small model (4 channels, lmax 2, cutoff 3.5 Å) with default settings
otherwise (bond charge conservation, PME). Two layers, so that the second layer's tensor
products of l ≥ 1 features are exercised. Models are built as the trainer and the CLI build
them, ``PolMLIP(cfg).to(dtype)``: the float32 and float64 models of a rung share their
weights exactly (one float32 initialisation, cast), so the float32 derivatives can be
checked against the float64 ones, and the float64 model carries whatever constants that
construction gives it. The MACE variants (``mace-…``) use the same size with correlation 3.
"""

import pytest
import torch
from physics_mixin import PhysicsChecks

from polmlip.model import ModelConfig, PolMLIP
from polmlip.model.config import LADDER

SMALL = {"channels": 4, "lmax": 2, "num_layers": 2, "num_basis": 6, "radial_hidden": 8}
DTYPES = {"float64": torch.float64, "float32": torch.float32}
VARIANTS = [("nequip", rung, name) for rung in LADDER for name in DTYPES] + [
    ("mace", rung, name) for rung in ("SR", "+imu") for name in DTYPES
]


def ladder_model(rung: str, dtype: torch.dtype, seed: int = 0, backbone="nequip") -> PolMLIP:
    """The small model of ``rung``; the same ``seed`` gives the same weights in any dtype."""
    torch.manual_seed(seed)
    cfg = ModelConfig.from_dict(
        {
            "elements": list(PhysicsChecks.ELEMENTS),
            "cutoff": PhysicsChecks.CUTOFF,
            "ladder": rung,
            "backbone": backbone,
            **SMALL,
        }
    )
    return PolMLIP(cfg).to(dtype)


def _variant_id(backbone, rung, dtype):
    return f"{rung}-{dtype}" if backbone == "nequip" else f"{backbone}-{rung}-{dtype}"


@pytest.fixture(scope="module", params=VARIANTS, ids=[_variant_id(*v) for v in VARIANTS])
def variant(request):
    return request.param


@pytest.fixture(scope="module")
def backbone(variant):
    return variant[0]


@pytest.fixture(scope="module")
def rung(variant):
    return variant[1]


@pytest.fixture(scope="module")
def dtype(variant):
    return DTYPES[variant[2]]


@pytest.fixture(scope="module")
def model(rung, dtype, backbone):
    return ladder_model(rung, dtype, backbone=backbone)


class TestLadderPhysics(PhysicsChecks):
    """Every check of :class:`PhysicsChecks` for every rung × dtype, and the MACE variants."""
