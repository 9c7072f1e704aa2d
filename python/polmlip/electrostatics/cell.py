"""Cell geometry and input validation.

Cells are 3×3 tensors whose **rows** are the lattice vectors (Å). Fractional
coordinates are ``s = r @ inverse(cell)``.
"""

import torch


def check_positions(positions: torch.Tensor) -> None:
    """Reject positions that are not ``(N, 3)`` or contain NaN/inf."""
    if positions.dim() != 2 or positions.shape[1] != 3:
        raise ValueError("polmlip: positions must have shape (N, 3), got " + str(positions.shape))
    if not bool(torch.isfinite(positions).all()):
        bad = torch.nonzero(~torch.isfinite(positions).all(dim=1)).flatten()
        raise ValueError(
            "polmlip: positions contain NaN or inf (first bad site index "
            + str(int(bad[0]))
            + "); check the input structure or an exploding MD run"
        )


def check_cell(cell: torch.Tensor) -> None:
    """Reject a cell that is not a finite, non-degenerate 3×3 matrix (either handedness)."""
    if cell.dim() != 2 or cell.shape[0] != 3 or cell.shape[1] != 3:
        raise ValueError("polmlip: cell must have shape (3, 3), got " + str(cell.shape))
    if not bool(torch.isfinite(cell).all()):
        raise ValueError("polmlip: cell contains NaN or inf")
    lengths = torch.linalg.norm(cell.detach(), dim=1)
    if bool((lengths <= 0.0).any()):
        raise ValueError("polmlip: cell has a zero-length lattice vector; a periodic cell needs 3")
    vol = torch.abs(torch.linalg.det(cell.detach().double()))
    if float(vol) <= 1e-8 * float(lengths.double().prod()):
        raise ValueError(
            "polmlip: cell is singular or degenerate (volume "
            + str(float(vol))
            + " Å^3); its three lattice vectors must be linearly independent"
        )


def volume(cell: torch.Tensor) -> torch.Tensor:
    """Cell volume ``|det(cell)|`` in Å³ (scalar, differentiable)."""
    return torch.abs(torch.linalg.det(cell))


def plane_spacings(cell: torch.Tensor) -> torch.Tensor:
    """Distances between lattice planes, ``1/|b_d|`` (3,) in Å (perpendicular cell widths)."""
    return 1.0 / torch.linalg.norm(torch.linalg.inv(cell), dim=0)


def kvectors_from_indices(m: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """Wave vectors ``k = 2π m @ inverse(cell).T`` (K, 3), 1/Å, for integer triples m (K, 3)."""
    return 2.0 * torch.pi * (m.to(cell.dtype) @ torch.linalg.inv(cell).T)
