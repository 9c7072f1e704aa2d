"""The engines' fast path: the fused convolution ``polmlip::tp_conv`` against e3nn's tensor
product, on the operator and through exported files of the default model (float64, 1e-12)."""

import numpy as np
import pytest
import torch
from e3nn import o3

from polmlip import conv_reference, ops
from polmlip.export.io import export_model, load_exported
from polmlip.model import ModelConfig, PolMLIP
from polmlip.model.polmlip import _float64_defaults
from polmlip.nn.body import hidden_irreps
from polmlip.nn.interaction import Interaction
from polmlip.nn.mace import MACEInteraction

from model_helpers import engine_outputs, triclinic_water, water_cluster

TOL = 1e-12


def _layer(irreps_in, channels, lmax, max_ell=None):
    """A nequip layer, or a MACE layer with edge harmonics to ``max_ell``."""
    # built in float64, as PolMLIP builds its modules (e3nn's Clebsch-Gordan buffers too)
    with _float64_defaults():
        if max_ell is not None:
            return MACEInteraction(
                o3.Irreps(irreps_in),
                channels,
                lmax,
                o3.Irreps.spherical_harmonics(max_ell),
                8,
                [16, 16, 16],
                12.0,
                1,
                2,
            )
        return Interaction(
            o3.Irreps(irreps_in),
            hidden_irreps(channels, lmax),
            o3.Irreps.spherical_harmonics(lmax),
            8,
            [16, 16],
            12.0,
        )


def _random_graph(n_atoms, n_local, n_edges, seed):
    g = torch.Generator().manual_seed(seed)
    receivers = torch.randint(0, n_local, (n_edges,), generator=g)
    senders = torch.randint(0, n_atoms, (n_edges,), generator=g)
    vectors = torch.randn(n_edges, 3, generator=g, dtype=torch.float64)
    return torch.stack([receivers, senders]), vectors


@pytest.mark.parametrize(
    "irreps_in, channels, lmax, max_ell",
    [
        ("16x0e", 16, 2, None),
        ("16x0e+16x1o+16x2e", 16, 2, None),
        ("5x0e+5x1o", 5, 1, None),
        ("4x0e+4x1o", 4, 1, 3),  # MACE's A-basis to l = 3 (edge harmonics 0e … 3o)
    ],
)
def test_layer_fused_equals_e3nn(irreps_in, channels, lmax, max_ell):
    """One layer: outputs and first derivatives of the fused path equal e3nn's."""
    torch.manual_seed(1)
    layer = _layer(irreps_in, channels, lmax, max_ell)
    edge_index, vectors = _random_graph(40, 25, 300, seed=2)
    h0 = torch.randn(40, layer.linear_up.irreps_in.dim, dtype=torch.float64)
    basis = torch.randn(300, 8, dtype=torch.float64)
    results = []
    for fused in (False, True):
        layer.fused = fused
        h = h0.clone().requires_grad_(True)
        vec = vectors.clone().requires_grad_(True)
        sh = o3.spherical_harmonics(layer.tp.irreps_in2, vec, True, normalization="component")
        species = torch.zeros(40, dtype=torch.long)
        out = layer(h, species, edge_index, sh, basis, torch.linalg.norm(vec, dim=-1), 25)
        grads = torch.autograd.grad((out * torch.cos(out)).sum(), [h, vec])
        results.append([out, *grads])
    for a, b in zip(*results):
        assert torch.allclose(a, b, rtol=0, atol=TOL * float(a.detach().abs().max()))


@pytest.mark.skipif(ops.backend() != "native", reason="native operators not built")
def test_native_operator_equals_reference():
    """The C++ kernel and the PyTorch reference: values and gradients (float32 and 64),
    receivers in any order, atoms without edges."""
    torch.manual_seed(3)
    layer = _layer("4x0e+4x1o+4x2e", 4, 2)
    plan = (layer.conv_paths, layer.conv_entries, layer.conv_coeffs)
    edge_index, vectors = _random_graph(30, 20, 200, seed=4)
    for dtype, tol in ((torch.float64, 1e-13), (torch.float32, 1e-5)):
        x = torch.randn(30, layer.linear_up.irreps_in.dim, dtype=dtype, requires_grad=True)
        sh = torch.randn(200, 9, dtype=dtype, requires_grad=True)
        w = torch.randn(200, layer.tp.weight_numel, dtype=dtype, requires_grad=True)
        outs = []
        for fn in (torch.ops.polmlip.tp_conv, conv_reference.tp_conv):
            out = fn(x, sh, w, edge_index, 22, layer.conv_dim, *plan)
            outs.append([out, *torch.autograd.grad((out**2).sum(), [x, sh, w])])
        for a, b in zip(*outs):
            assert torch.allclose(a, b, rtol=0, atol=tol * float(b.detach().abs().max()))
        assert float(outs[0][0][20:].detach().abs().max()) == 0.0  # receivers without edges


@pytest.mark.skipif(ops.backend() != "native", reason="native operators not built")
@pytest.mark.parametrize("threads", [1, 2])
def test_native_table_convolution_equals_reference(threads):
    """polmlip::tp_conv_table (weights read from the table inside the convolution) against
    the reference tp_conv(radial_spline(...)): values and gradients of x, sh and the edge
    lengths, with one and two threads (per-thread gradient buffers)."""
    torch.manual_seed(5)
    layer = _layer("4x0e+4x1o+4x2e", 4, 2)
    plan = (layer.conv_paths, layer.conv_entries, layer.conv_coeffs)
    edge_index, _ = _random_graph(30, 20, 200, seed=6)
    g = torch.Generator().manual_seed(7)
    table = torch.randn(12, 6, layer.tp.weight_numel, generator=g, dtype=torch.float64)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for dtype, tol in ((torch.float64, 1e-13), (torch.float32, 1e-5)):
            x = torch.randn(30, layer.linear_up.irreps_in.dim, dtype=dtype, requires_grad=True)
            sh = torch.randn(200, 9, dtype=dtype, requires_grad=True)
            length = (0.5 + 3.0 * torch.rand(200, generator=g, dtype=torch.float64)).to(dtype)
            length.requires_grad_(True)
            args = (table.to(dtype), 0.4, 3.5, edge_index, 22, layer.conv_dim, *plan)
            outs = []
            for fn in (torch.ops.polmlip.tp_conv_table, conv_reference.tp_conv_table):
                out = fn(x, sh, length, *args)
                outs.append([out, *torch.autograd.grad((out**2).sum(), [x, sh, length])])
            for a, b in zip(*outs):
                assert torch.allclose(a, b, rtol=0, atol=tol * float(b.detach().abs().max()))
    finally:
        torch.set_num_threads(previous)


@pytest.mark.skipif(ops.backend() != "native", reason="native operators not built")
def test_native_operator_refuses_second_derivative_and_bad_edges():
    layer = _layer("2x0e+2x1o", 2, 1)
    plan = (layer.conv_paths, layer.conv_entries, layer.conv_coeffs)
    edge_index, _ = _random_graph(6, 4, 12, seed=5)
    x = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    sh = torch.randn(12, 4, dtype=torch.float64)
    w = torch.randn(12, layer.tp.weight_numel, dtype=torch.float64)
    out = torch.ops.polmlip.tp_conv(x, sh, w, edge_index, 4, layer.conv_dim, *plan)
    with pytest.raises(RuntimeError, match="no second derivative"):
        torch.autograd.grad(out.sum(), [x], create_graph=True)
    with pytest.raises(RuntimeError, match="receivers outside"):
        torch.ops.polmlip.tp_conv(x, sh, w, edge_index, 3, layer.conv_dim, *plan)


def _default_model(ladder="+imu", backbone="nequip"):
    torch.manual_seed(0)
    return PolMLIP(
        ModelConfig.from_dict({"elements": ["H", "O"], "ladder": ladder, "backbone": backbone})
    )


@pytest.fixture(scope="module", params=["nequip", "mace"])
def default_export(tmp_path_factory, request):
    path = tmp_path_factory.mktemp("fused") / "model.pt"
    export_model(_default_model(backbone=request.param), path)
    return path


@pytest.mark.parametrize("periodic", [True, False])
def test_exported_default_model_fast_path_equals_e3nn(default_export, periodic):
    """Energy, forces, stress, Born charges and every per-atom output of the default model
    (16 channels, lmax 2, full response), on both backbones, float64: fast path = e3nn path
    to 1e-12."""
    engine, meta = load_exported(default_export)
    atoms = triclinic_water() if periodic else water_cluster(5, seed=3)
    results = []
    for fast in (True, False):
        engine.set_fast_path(fast)
        results.append(engine_outputs(engine, meta, atoms))
    fast, slow = results
    assert set(fast) == set(slow)
    for name in slow:
        a, b = fast[name].double(), slow[name].double()
        scale = max(float(b.abs().max()), 1e-300)
        assert float((a - b).abs().max()) <= TOL * scale, name
    assert np.isfinite(fast["energy"].item())
