"""The radial networks compressed into tables at export (``polmlip.nn.radial_table``):
the measured error bound, the force error of the default model against the uncompressed
one (≤ 1e-6 relative), and the operator against its reference."""

import pytest
import torch

from polmlip import conv_reference, ops
from polmlip.export.io import export_model, load_exported
from polmlip.model import ModelConfig, PolMLIP
from polmlip.nn.radial_table import TABLE_TOLERANCE, RadialTable, tabulate

from model_helpers import engine_outputs, triclinic_water, water_cluster


def test_tabulated_function_within_its_measured_bound():
    """A known smooth function (Bessel-like, with an envelope): the table's error on a fine
    grid stays within the error it measured, which meets the tolerance."""
    cutoff = 4.5

    def fn(r):
        n = torch.arange(1, 9, dtype=torch.float64)
        envelope = (1 - r / cutoff)[:, None] ** 3
        return torch.sin(n * torch.pi * r[:, None] / cutoff) / r[:, None] * envelope

    table = RadialTable().double()
    assert table.coeffs.shape[1] == 6  # quintic pieces
    error = tabulate(table, fn, 0.3, cutoff, 1e-8)
    assert error <= 1e-8
    r = torch.linspace(0.3, cutoff, 10007, dtype=torch.float64)
    exact = fn(r)
    got = conv_reference.radial_spline(r, table.coeffs, table.r_lo, table.inv_h)
    assert float((got - exact).abs().max()) / float(exact.abs().max()) <= 2 * error
    # knots are exact
    knots = table.r_lo + torch.arange(4, dtype=torch.float64) / table.inv_h
    assert torch.allclose(table(knots), fn(knots), rtol=0, atol=1e-14)


@pytest.mark.skipif(ops.backend() != "native", reason="native operators not built")
def test_native_spline_equals_reference():
    g = torch.Generator().manual_seed(0)
    coeffs = torch.randn(20, 4, 7, generator=g, dtype=torch.float64)
    for dtype, tol in ((torch.float64, 1e-14), (torch.float32, 1e-5)):
        r = (0.5 + 4.5 * torch.rand(300, generator=g, dtype=torch.float64)).to(dtype)
        outs = []
        for fn in (torch.ops.polmlip.radial_spline, conv_reference.radial_spline):
            x = r.clone().requires_grad_(True)
            w = fn(x, coeffs.to(dtype), 0.4, 4.0)
            outs.append([w, torch.autograd.grad((w * w).sum(), x)[0]])
        for a, b in zip(*outs):
            assert torch.allclose(a, b, rtol=0, atol=tol * float(b.abs().max()))
    x = r.clone().requires_grad_(True)
    w = torch.ops.polmlip.radial_spline(x, coeffs.to(r.dtype), 0.4, 4.0)
    with pytest.raises(RuntimeError, match="no second derivative"):
        torch.autograd.grad(w.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="constant"):
        torch.ops.polmlip.radial_spline(x, coeffs.to(r.dtype).requires_grad_(True), 0.4, 4.0)


@pytest.fixture(scope="module")
def compressed_default(tmp_path_factory):
    torch.manual_seed(0)
    model = PolMLIP(ModelConfig.from_dict({"elements": ["H", "O"]}))
    path = tmp_path_factory.mktemp("table") / "model.pt"
    export_model(model, path)
    return path


@pytest.mark.parametrize("periodic", [True, False])
def test_compressed_default_model_forces_within_1e6(compressed_default, periodic):
    """Default model (16 channels, lmax 2), float64: the tables against the networks, for
    energy, forces, stress and Born charges; forces within 1e-6 relative (max |ΔF| / max |F|),
    and the table's own measured error is within its tolerance."""
    engine, meta = load_exported(compressed_default)
    for _, layer in engine.model.body.layers.named_children():
        assert 0.0 < layer.radial_table.max_error <= TABLE_TOLERANCE
    atoms = triclinic_water() if periodic else water_cluster(5, seed=3)
    outs = []
    for table in (True, False):
        engine.set_radial_table(table)
        outs.append(engine_outputs(engine, meta, atoms))
    compressed, exact = outs
    for name in ("energy", "forces", "stress", "bec"):
        if name not in exact:
            continue
        err = float((compressed[name] - exact[name]).abs().max())
        assert err <= 1e-6 * float(exact[name].abs().max()), name
    engine.set_radial_table(True)
