"""Benchmark systems (random rigid-water boxes) and facts about the machine they run on."""

import math
import os
import pathlib
import platform
import re
import sys
from pathlib import Path

import torch
import torchpme

from polmlip import ops as polmlip_ops

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_settings import DENSITY  # noqa: E402


def water_box(n_sites, dtype=torch.float64, seed=0):
    """Random rigid waters (O −0.8 e, H +0.4 e, OH 0.9572 Å, HOH 104.52°) at 0.1 sites/Å³.

    Molecules are placed and oriented uniformly at random (overlaps allowed, harmless for
    Gaussian sites). Returns positions (N, 3), cubic cell (3, 3) and charges (N,).
    """
    if n_sites % 3:
        raise ValueError(f"n_sites must be a multiple of 3, got {n_sites}")
    g = torch.Generator().manual_seed(seed)
    n_mol = n_sites // 3
    length = (n_sites / DENSITY) ** (1.0 / 3.0)
    oxygen = torch.rand(n_mol, 3, generator=g, dtype=torch.float64) * length
    half = math.radians(104.52) / 2.0
    r_oh = 0.9572
    local = torch.tensor(
        [
            [r_oh * math.sin(half), r_oh * math.cos(half), 0.0],
            [-r_oh * math.sin(half), r_oh * math.cos(half), 0.0],
        ],
        dtype=torch.float64,
    )
    rot, _ = torch.linalg.qr(torch.randn(n_mol, 3, 3, generator=g, dtype=torch.float64))
    hydrogen = oxygen[:, None, :] + torch.einsum("hj,mij->mhi", local, rot)
    pos = torch.cat([oxygen[:, None, :], hydrogen], dim=1).reshape(-1, 3) % length
    q = torch.tensor([-0.8, 0.4, 0.4], dtype=torch.float64).repeat(n_mol)
    cell = torch.eye(3, dtype=torch.float64) * length
    return pos.to(dtype), cell.to(dtype), q.to(dtype)


def mem_available():
    """Bytes of memory available now (``MemAvailable``), 8 GiB where it cannot be read."""
    try:
        text = Path("/proc/meminfo").read_text()
        return int(re.search(r"MemAvailable:\s+(\d+)", text).group(1)) * 1024
    except (OSError, AttributeError):
        return 8 * 2**30


def loadavg():
    """The 1-minute load average (nan where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def machine_info():
    """CPU model, core and thread counts, memory and library versions, for the report."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, AttributeError):
        pass
    return dict(
        cpu=cpu,
        cores=os.cpu_count(),
        threads=torch.get_num_threads(),
        mem=mem,
        torch=torch.__version__,
        torchpme=torchpme.__version__,
        python=platform.python_version(),
        ops=polmlip_ops.backend(),
    )
