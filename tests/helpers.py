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


def water_sites(n_sites, seed=0, dtype=torch.float64):
    """Rigid waters at 1 g/cm³ (0.1 sites/Å³; ``polmlip.qmdata.structures.water_box``) with
    charges O −0.8 e, H +0.4 e: positions (N, 3), cell (3, 3), charges (N,)."""
    from polmlip.qmdata.structures import water_box

    atoms = water_box(n_sites // 3, seed=seed)
    q = [-0.8 if s == "O" else 0.4 for s in atoms.get_chemical_symbols()]
    return (
        torch.tensor(atoms.get_positions(), dtype=dtype),
        torch.tensor(atoms.cell.array, dtype=dtype),
        torch.tensor(q, dtype=dtype),
    )
