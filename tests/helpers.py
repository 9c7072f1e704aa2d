"""Random test systems shared by the physics and unit tests."""

import torch


def random_sites(n, cell, seed=0, q_scale=0.5, mu_scale=0.2, theta_scale=0.3, dtype=torch.float64):
    """Random neutral sites inside ``cell`` with charges, dipoles and traceless quadrupoles."""
    g = torch.Generator().manual_seed(seed)
    cell = torch.as_tensor(cell, dtype=dtype)
    pos = torch.rand(n, 3, generator=g, dtype=dtype) @ cell
    q = q_scale * torch.randn(n, generator=g, dtype=dtype)
    q = q - q.mean()
    mu = mu_scale * torch.randn(n, 3, generator=g, dtype=dtype)
    th = theta_scale * torch.randn(n, 3, 3, generator=g, dtype=dtype)
    th = 0.5 * (th + th.transpose(1, 2))
    th = th - torch.diagonal(th, dim1=1, dim2=2).sum(-1)[:, None, None] / 3 * torch.eye(
        3, dtype=dtype
    )
    return pos, q, mu, th


def triclinic_cell(length=9.0, dtype=torch.float64):
    """A skewed, non-orthogonal test cell (rows are lattice vectors), Å."""
    return torch.tensor(
        [[length, 0.0, 0.0], [1.3, length * 0.95, 0.0], [0.7, -1.1, length * 1.05]], dtype=dtype
    )


def energy_drift(times, energies):
    """Linear drift of an energy series: (slope, standard error of the slope, RMS residual).

    Short NVE runs are dominated by the integrator's oscillation; the standard error says how
    much of a fitted slope that noise alone explains."""
    import numpy as np

    t = np.asarray(times, dtype=float)
    e = np.asarray(energies, dtype=float)
    fit = np.polyfit(t, e, 1)
    resid = e - np.polyval(fit, t)
    rms = float(np.sqrt(np.mean(resid**2)))
    stderr = rms / (np.sqrt(len(t)) * float(np.std(t)))
    return float(fit[0]), stderr, rms


def water_sites(n_sites, seed=0, density=0.1, dtype=torch.float64):
    """Random rigid waters (O −0.8 e, H +0.4 e, OH 0.9572 Å, HOH 104.52°) at ``density``
    sites/Å³ in a cube: positions (N, 3), cell (3, 3), charges (N,)."""
    import math

    g = torch.Generator().manual_seed(seed)
    n_mol = n_sites // 3
    length = (3 * n_mol / density) ** (1.0 / 3.0)
    oxygen = torch.rand(n_mol, 3, generator=g, dtype=torch.float64) * length
    half = math.radians(104.52) / 2.0
    local = 0.9572 * torch.tensor(
        [[math.sin(half), math.cos(half), 0.0], [-math.sin(half), math.cos(half), 0.0]],
        dtype=torch.float64,
    )
    rot, _ = torch.linalg.qr(torch.randn(n_mol, 3, 3, generator=g, dtype=torch.float64))
    hydrogen = oxygen[:, None, :] + torch.einsum("hj,mij->mhi", local, rot)
    pos = torch.cat([oxygen[:, None, :], hydrogen], dim=1).reshape(-1, 3) % length
    q = torch.tensor([-0.8, 0.4, 0.4], dtype=torch.float64).repeat(n_mol)
    cell = torch.eye(3, dtype=torch.float64) * length
    return pos.to(dtype), cell.to(dtype), q.to(dtype)
