"""The open frames of a batch summed together (``frame_pairs``): the pairs of each frame alone,
in its order, and the same fields as the solver frame by frame."""

import torch

from polmlip.electrostatics import MultipoleElectrostatics
from polmlip.electrostatics.pairs import all_pairs, frame_pairs


def test_frame_pairs_are_each_frames_pairs_in_order():
    sizes = [3, 1, 4, 2, 5]
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    wanted = torch.tensor([True, True, False, True, True])
    got = frame_pairs(batch, wanted)
    starts = [sum(sizes[:k]) for k in range(len(sizes))]
    expected = torch.cat(
        [all_pairs(n, batch.device) + s for n, s, w in zip(sizes, starts, wanted) if w], dim=1
    )
    assert torch.equal(got, expected)
    assert frame_pairs(batch, torch.zeros(5, dtype=torch.bool)).shape == (2, 0)


def test_open_frames_together_equal_frame_by_frame():
    """Charges, dipoles and quadrupoles of three open frames: energies, φ, E and G of the
    batched direct sum equal the solver's per frame (the same sums in the same order)."""
    gen = torch.Generator().manual_seed(7)
    sizes = [4, 1, 6]
    n = sum(sizes)
    pos = 4.0 * torch.rand((n, 3), generator=gen, dtype=torch.float64)
    q = torch.randn(n, generator=gen, dtype=torch.float64)
    mu = 0.3 * torch.randn((n, 3), generator=gen, dtype=torch.float64)
    th = 0.2 * torch.randn((n, 3, 3), generator=gen, dtype=torch.float64)
    th = th + th.transpose(1, 2)
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    solver = MultipoleElectrostatics(sigma=1.0)
    together = solver.open_frames(pos, batch, torch.ones(3, dtype=torch.bool), q, mu, th)
    start = 0
    cell = torch.zeros((3, 3), dtype=torch.float64)
    for size in sizes:
        rows = slice(start, start + size)
        alone = solver(pos[rows], cell, False, q[rows], mu[rows], th[rows])
        for a, b in zip(together, alone):
            torch.testing.assert_close(a[rows], b, rtol=1e-15, atol=1e-15)
        start += size
