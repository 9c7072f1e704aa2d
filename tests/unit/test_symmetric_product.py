"""MACE's product basis (:mod:`polmlip.nn.symmetric_product`): equivariance, and the
invariants it spans against invariants built independently from the irreps' own products."""

import pytest
import torch
from e3nn import o3

from polmlip.nn.symmetric_product import SymmetricProduct, symmetric_basis


@pytest.fixture(autouse=True)
def _float64_defaults():
    """e3nn's Wigner D matrices are built in the default dtype (float32 is exact to ~1e-7
    only); the checks here are at float64 rounding."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _features(channels, lmax, n, seed):
    g = torch.Generator().manual_seed(seed)
    irreps = o3.Irreps([(channels, (l, (-1) ** l)) for l in range(lmax + 1)])
    return irreps, torch.randn(n, irreps.dim, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(
    "lmax_in, lmax, correlation", [(1, 1, 2), (1, 1, 3), (2, 2, 3), (3, 1, 3), (3, 2, 2)]
)
def test_equivariant_under_rotations_and_inversion(lmax_in, lmax, correlation):
    """Also with A-features of higher order than the output (MACE's max_ell 3)."""
    torch.manual_seed(0)
    product = SymmetricProduct(3, lmax, correlation, num_species=2, lmax_in=lmax_in).double()
    irreps_in, a = _features(3, lmax_in, 7, seed=1)
    irreps_out, _ = _features(3, lmax, 1, seed=1)
    species = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    for parity in (1.0, -1.0):
        rotation = o3.rand_matrix(dtype=torch.float64) * parity
        rotated = product(a @ irreps_in.D_from_matrix(rotation).T, species)
        expected = product(a, species) @ irreps_out.D_from_matrix(rotation).T
        scale = float(expected.detach().abs().max())
        assert float((rotated - expected).detach().abs().max()) <= 1e-12 * scale


def test_scripted_equals_eager_and_weights_depend_on_the_element():
    torch.manual_seed(0)
    product = SymmetricProduct(2, 2, 3, num_species=2).double()
    _, a = _features(2, 2, 5, seed=2)
    species = torch.tensor([0, 1, 0, 1, 1])
    eager = product(a, species)
    scripted = torch.jit.script(product)(a, species)
    assert torch.equal(eager, scripted)
    swapped = product(a, 1 - species)
    assert float((swapped - eager).detach().abs().max()) > 1e-3


def _invariants(a_l, order):
    """Rotation invariants of one channel's irreps a_l = [a0 (1,), a1 (3,), a2 (5,)], built
    from e3nn's Wigner 3j symbols, the products of the second and third order."""
    a0, a1, a2 = a_l
    if order == 2:
        return [a0 @ a0, a1 @ a1, a2 @ a2]
    w112 = o3.wigner_3j(1, 1, 2, dtype=torch.float64)
    w222 = o3.wigner_3j(2, 2, 2, dtype=torch.float64)
    return [
        a0[0] ** 3,
        a0[0] * (a1 @ a1),
        a0[0] * (a2 @ a2),
        torch.einsum("i,j,k,ijk->", a1, a1, a2, w112),
        torch.einsum("i,j,k,ijk->", a2, a2, a2, w222),
    ]


@pytest.mark.parametrize("order", [2, 3])
def test_scalar_paths_span_the_independent_invariants(order):
    """The ν-th power's 0e paths are a basis of the ν-th order invariants of 0e+1o+2e: on
    random features their values and the invariants above have the same rank, and the joint
    rank is no larger (same space)."""
    monomials, basis, paths = symmetric_basis(2, 2, order)
    rows_b, rows_ref = [], []
    g = torch.Generator().manual_seed(order)
    for _ in range(40):
        a = torch.randn(9, dtype=torch.float64, generator=g)
        power = a[monomials].prod(dim=1)
        rows_b.append(power @ basis[:, : paths[0]])
        rows_ref.append(torch.stack(_invariants([a[:1], a[1:4], a[4:9]], order)))
    b, ref = torch.stack(rows_b), torch.stack(rows_ref)
    rank = torch.linalg.matrix_rank
    assert paths[0] == ref.shape[1]
    assert int(rank(b)) == int(rank(ref)) == ref.shape[1]
    assert int(rank(torch.cat([b, ref], dim=1))) == ref.shape[1]


def test_correlation_out_of_range_is_refused():
    with pytest.raises(ValueError, match="correlation"):
        SymmetricProduct(2, 1, 4, num_species=1)
