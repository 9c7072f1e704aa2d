"""Data-parallel training over ``torch.distributed`` processes (or one process).

``torchrun --standalone --nproc-per-node N -m polmlip train CONFIG`` starts N processes; each
takes its share of every global batch of ``training.batch_size`` frames (frames k ≡ rank mod
N), and after the backward pass the gradients are summed over the processes. The loss of a
batch is the one-process loss of the whole global batch: every per-property mean divides by
that property's count over all processes (one small all-reduce per step), so N processes
follow one process's history to rounding. Metrics, validation and the plateau schedule use
sums over all processes; rank 0 alone writes the checkpoint, the logs and the model.

The gloo backend runs on the CPU; NCCL is used when training on CUDA (one GPU per process,
``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import datetime
import os
from typing import Dict, Iterable, List, Mapping, Sequence

import torch
import torch.distributed as dist

from ..errors import InputError


class Processes:
    """The processes of one training run: ``rank`` of ``world`` (1 when not distributed)."""

    def __init__(self) -> None:
        self.active = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.world = dist.get_world_size() if self.active else 1
        self.rank = dist.get_rank() if self.active else 0

    @property
    def main(self) -> bool:
        """Whether this process writes files and prints (rank 0)."""
        return self.rank == 0

    def share(self, count: int) -> List[int]:
        """This process's positions among ``count`` items of a global batch."""
        return list(range(self.rank, count, self.world))

    def sum(self, values: Sequence[float]) -> List[float]:
        """Element-wise sum over the processes of a list of numbers (float64)."""
        if not self.active:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64)
        t = t.to(self._comm_device())
        dist.all_reduce(t)
        return t.cpu().tolist()

    def sum_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Replace each gradient by its sum over the processes, in one all-reduce. A
        parameter no process gave a gradient keeps none (AdamW skips it, weight decay too),
        as in one process."""
        if not self.active:
            return
        params = list(parameters)
        if not params:
            return
        device, dtype = params[0].device, params[0].dtype
        had = torch.tensor([p.grad is not None for p in params], dtype=dtype, device=device)
        flat = torch.cat(
            [
                (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).to(dtype)
                for p in params
            ]
            + [had]
        )
        dist.all_reduce(flat)
        offset = 0
        for p, any_grad in zip(params, flat[-len(params) :].tolist()):
            n = p.numel()
            if any_grad > 0:
                p.grad = flat[offset : offset + n].view_as(p).to(p.dtype).clone()
            offset += n

    def broadcast_state(self, module: torch.nn.Module) -> None:
        """Give every process rank 0's parameters and buffers."""
        if not self.active:
            return
        for t in module.state_dict().values():
            dist.broadcast(t, 0)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def finish(self) -> None:
        """Leave the process group (at the end of a run)."""
        if self.active and dist.is_initialized():
            dist.destroy_process_group()
            self.active = False

    def _comm_device(self) -> torch.device:
        backend = dist.get_backend()
        if backend == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def init_from_environment(device: str = "cpu") -> Processes:
    """Join the process group the environment describes: ``WORLD_SIZE``, ``RANK``,
    ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, as ``torchrun`` sets them (under
    ``srun`` or ``mpirun`` the user sets them from the launcher's variables,
    docs/workflows.md). One process without ``WORLD_SIZE``: other launchers' variables alone
    never start a group, so a batch script's ``SLURM_NTASKS`` cannot hang a serial run.

    ``device``: the training device setting; ``cuda`` uses NCCL and ``cuda:LOCAL_RANK``.
    """
    text = os.environ.get("WORLD_SIZE", "1")
    try:
        world = int(text)
    except ValueError:
        raise InputError(f"WORLD_SIZE={text!r} is not a number of processes") from None
    if world > 1 and dist.is_available() and not dist.is_initialized():
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise InputError(
                f"{world} training processes were launched, but {' and '.join(missing)} "
                "is not set: export MASTER_ADDR (the host of rank 0) and MASTER_PORT (a free "
                "port), or launch with torchrun, which sets them"
            )
        cuda = str(device).startswith("cuda")
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(
            backend="nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=30)
        )
    return Processes()


def global_counts(procs: Processes, res: Mapping[str, torch.Tensor], names: Sequence[str]):
    """{name: number of residual entries over all processes} for the target ``names``."""
    local = [float(res[n].numel()) if n in res else 0.0 for n in names]
    return dict(zip(names, procs.sum(local)))


def reduce_sums(procs: Processes, sums: Dict[str, List[float]], names: Sequence[str]):
    """Sum per-name lists of 3 numbers (|r| sum, r² sum, count) over the processes."""
    flat = []
    for n in names:
        flat.extend(sums.get(n, [0.0, 0.0, 0]))
    total = procs.sum(flat)
    return {n: [total[3 * k], total[3 * k + 1], int(total[3 * k + 2])] for k, n in enumerate(names)}
