"""The training loop: AdamW, plateau LR schedule, EMA, early stopping, exact resume."""

from __future__ import annotations

import json
import multiprocessing
import pathlib
import random
import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import keys
from ..data.graph import collate
from ..data.targets import TARGETS, derivatives_wanted
from ..devices import resolve_device
from ..errors import InputError, TrainingDiverged
from ..fileio import atomic_save, check_output, read_checkpoint, write_text
from ..model.config import ModelConfig
from ..model.polmlip import PolMLIP
from .config import RunConfig
from .ema import EMA
from .loss import random_directions, residuals, weighted_loss
from .metrics import (
    ErrorAccumulator,
    TensorBoardLog,
    progress_text,
    summary_writer_class,
    write_metrics_csv,
)
from .orient import orient_multipoles, sign_is_determined
from .parallel import Processes, global_counts, init_from_environment
from .prepare import (
    average_neighbors,
    describe_targets,
    fit_energy_shifts,
    force_rms,
    load_splits,
    target_weights,
    training_field_limit,
    training_min_distance,
)
from .run_folder import FolderLock, data_record, describe_change

#: how this platform can start worker processes
START_METHODS = multiprocessing.get_all_start_methods()


class _BatchSet(torch.utils.data.Dataset):
    """Batch k: the frames ``frames[k]`` of ``data`` collated (None for no frames)."""

    def __init__(self, data, frames: List[List[int]]) -> None:
        self.data, self.frames = data, frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, k: int):
        return collate([self.data[i] for i in self.frames[k]]) if self.frames[k] else None


def _as_is(item):
    return item


def _one_thread(_worker: int) -> None:
    torch.set_num_threads(1)


def _built_batches(data, frames: List[List[int]], workers: int):
    """The collated batches of ``frames`` (lists of indices into ``data``) in order: built
    here, or by ``workers`` processes ahead of use (forked: they share ``data``'s memory)."""
    batches = _BatchSet(data, frames)
    if workers == 0 or len(frames) < 2:
        return (batches[k] for k in range(len(batches)))
    return iter(
        torch.utils.data.DataLoader(
            batches,
            batch_size=None,
            shuffle=False,
            num_workers=min(workers, len(frames)),
            collate_fn=_as_is,
            worker_init_fn=_one_thread,
            # forked workers share the data's memory; spawned ones would get a pickled copy
            multiprocessing_context="fork" if "fork" in START_METHODS else None,
        )
    )


def _atomic_save(obj: Any, path: pathlib.Path) -> None:
    atomic_save(path, lambda buffer: torch.save(obj, buffer))


class Trainer:
    """Trains a :class:`PolMLIP` from a :class:`RunConfig`; see ``polmlip train --help``."""

    def __init__(self, run: RunConfig, progress: bool = True) -> None:
        run.validate()
        self.run = run
        self.cfg = run.training
        if self.cfg.tensorboard:
            summary_writer_class()  # before any file: refuse early when it is missing
        self.out = pathlib.Path(self.cfg.output)
        if self.out.exists() and not self.out.is_dir():
            raise InputError(
                f"training.output {str(self.out)!r} is a file; it must be a folder "
                "(it receives checkpoint.pt, model.pt and the plots)"
            )
        self.procs: Processes = init_from_environment(self.cfg.device)
        device = self.cfg.device
        if self.procs.active and str(device).startswith("cuda"):
            device = f"cuda:{torch.cuda.current_device()}"  # one GPU per process
        self.device = resolve_device(device, "training.device")
        self.progress = progress and self.procs.main
        self.dtype = getattr(torch, self.cfg.dtype)
        torch.manual_seed(self.cfg.seed)
        self.train_set, self.val_set = load_splits(run)
        run.model.avg_neighbors = average_neighbors(self.train_set)
        self.weights = target_weights(run)
        if self.progress:
            print("polmlip train: what the data gives (ranges in the units read):")
            print("\n".join(describe_targets(run, self.train_set, self.val_set)), flush=True)
        self._build()
        self.epoch = 0
        self.history: List[Dict[str, float]] = []
        self.best_val = float("inf")
        self.best_state: Optional[Dict[str, torch.Tensor]] = None
        self.stale = 0
        files = [run.base_dir / f for f in (run.data.train, run.data.validation) if f]
        self.data = data_record(
            files, {"training": len(self.train_set), "validation": len(self.val_set)}
        )
        # last, so that bad input above leaves no trace: a writable folder, one writer (the
        # first process of a data-parallel run writes for all)
        self.lock = None
        self.tensorboard: Optional[TensorBoardLog] = None
        if self.procs.main:
            check_output(self.out, "results", folder=True)
            self.lock = FolderLock(self.out)
            if self.cfg.tensorboard:
                self.tensorboard = TensorBoardLog(self.out / "tensorboard")
        self.procs.barrier()

    @property
    def writes(self) -> bool:
        """Whether this process writes the run's files (the only one, or rank 0)."""
        return self.procs.main

    def close(self) -> None:
        """Release the output folder (also done when the process ends)."""
        if self.lock is not None:
            self.lock.release()
        if self.tensorboard is not None:
            self.tensorboard.close()
        self.procs.finish()

    def _build(self) -> None:
        """Model (initialised from the data), optimiser, schedule and EMA for ``run.model``."""
        run = self.run
        model = PolMLIP(run.model)
        if run.model.mace_body is not None:
            from ..model.mace_body import load_mace_body, read_mace_body

            load_mace_body(model, read_mace_body(run.model.mace_body))
        model = model.to(self.dtype)
        model.energy_sum.energy_scale.fill_(force_rms(self.train_set))
        e0 = run.model.reference_energies
        if e0 is not None:
            shifts = [float(e0[e]) for e in run.model.elements]
        else:
            shifts = fit_energy_shifts(self.train_set, len(run.model.elements))
        model.energy_sum.energy_shift.copy_(torch.tensor(shifts, dtype=self.dtype))
        if run.model.field_limit is None:
            model.field_limit.fill_(training_field_limit(self.train_set))
        if run.model.min_distance is None:
            model.min_distance.fill_(training_min_distance(self.train_set))
        self.model = model.to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=self.cfg.lr_factor, patience=self.cfg.lr_patience
        )
        self.procs.broadcast_state(self.model)  # the same start everywhere
        self.ema = EMA(self.model, self.cfg.ema_decay)

    # ---- what to compute ----
    def _wants(self, batch: Dict[str, torch.Tensor]) -> Dict[str, bool]:
        """The derivatives the weighted targets of ``batch`` need (data/targets.py)."""
        return derivatives_wanted(batch, self.weights)

    def _evaluate(self, batch: Dict[str, torch.Tensor], create_graph: bool):
        w = self._wants(batch)
        out = self.model(
            batch,
            w["forces"],
            w["stress"],
            w["bec"],
            create_graph,
            compute_polarizability=w["polarizability"],
        )
        return out, residuals(batch, out)

    def _project_bec(
        self, batch: Dict[str, torch.Tensor], step: int, frames: int, mine: List[int]
    ) -> None:
        """With ``bec_loss: projected``, one random direction per frame of the global batch
        of ``frames`` (seeded by seed, epoch and step, so a resumed run draws the same ones,
        at any process count); ``batch`` holds the frames at positions ``mine``."""
        if self.cfg.bec_loss != "projected" or not self._wants(batch)["bec"]:
            return
        g = torch.Generator().manual_seed(self.cfg.seed * 1000003 + self.epoch * 10007 + step)
        v = random_directions(frames, g, self.dtype)[mine]
        batch[keys.BEC_PROJECTION] = v.to(self.device)

    # ---- checkpoints ----
    def state(self) -> Dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.state_dict(),
            "ema_updates": self.ema.updates,
            "history": self.history,
            "best_val": self.best_val,
            "best_state": self.best_state,
            "stale": self.stale,
            "rng": {
                "torch": torch.get_rng_state(),
                "python": random.getstate(),
            },
            "config": self.run.to_dict(),
            "data": self.data,
        }

    def load_state(self, state: Dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.ema.load_state_dict(state["ema"])
        # checkpoints from before the warm-up averaged at the full decay throughout
        self.ema.updates = int(state.get("ema_updates", 10**9))
        self.history = state["history"]
        self.best_val = state["best_val"]
        self.best_state = state["best_state"]
        self.stale = state["stale"]
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])

    def resume_if_possible(self) -> bool:
        """Continue from ``output/checkpoint.pt`` if there is one.

        Refuses, with what to do, a checkpoint that is unreadable or truncated, or that was
        trained with other model settings or another dtype. A changed data set is allowed
        (fine-tuning); the model keeps the neighbour normalisation it was trained with.
        """
        path = self.out / "checkpoint.pt"
        if not path.is_file():
            return False
        state = read_checkpoint(path)
        saved = ModelConfig.from_dict(state["config"]["model"]).to_dict()
        saved["dtype"] = state["config"]["training"]["dtype"]
        now = dict(self.run.model.to_dict(), dtype=self.cfg.dtype)
        changed = [k for k in now if k != "avg_neighbors" and saved.get(k) != now[k]]
        if changed:
            detail = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in changed)
            raise InputError(
                f"{str(path)!r} was trained with other settings ({detail}); train into a new "
                "folder (--output DIR), or start over here with --restart, which replaces it"
            )
        if saved["avg_neighbors"] != now["avg_neighbors"]:
            self.run.model.avg_neighbors = saved["avg_neighbors"]
            self._build()
        self.load_state(state)
        change = describe_change(state.get("data"), self.data)
        if change and self.writes:
            print(f"note: resuming with other data than the checkpoint's: {change}", flush=True)
        return True

    # ---- loop ----
    def _batches(self, data: List[Dict[str, torch.Tensor]], shuffle: bool):
        """Global batches of ``batch_size`` frames: yields (this process's share as a batch,
        or None when it has none; the global frame count; its positions in the batch).

        With ``training.num_workers`` > 0 the shares are built (graphs, collation) in that
        many worker processes ahead of the step that uses them, in the same order."""
        order = list(range(len(data)))
        if shuffle:
            g = torch.Generator().manual_seed(self.cfg.seed * 100003 + self.epoch)
            order = torch.randperm(len(data), generator=g).tolist()
        bs = self.cfg.batch_size
        plan = []
        for s in range(0, len(order), bs):
            chunk = order[s : s + bs]
            mine = self.procs.share(len(chunk))
            plan.append(([chunk[i] for i in mine], len(chunk), mine))
        built = _built_batches(data, [frames for frames, _, _ in plan], self.cfg.num_workers)
        for batch, (_, count, mine) in zip(built, plan):
            if batch is None:
                yield None, count, mine
                continue
            yield {k: v.to(self.device) for k, v in batch.items()}, count, mine

    def _batch_loss(self, batch: Optional[Dict[str, torch.Tensor]], create_graph: bool):
        """(this process's part of the global batch's loss, its residuals): the parts of
        all processes add up to the loss of the whole batch."""
        res = {} if batch is None else self._evaluate(batch, create_graph=create_graph)[1]
        counts = None
        if self.procs.active:
            counts = global_counts(self.procs, res, list(TARGETS))
        loss, _ = weighted_loss(res, self.weights, counts)
        return loss, res

    def _check_finite(self, loss: torch.Tensor, step: int) -> None:
        """Stop, before the optimiser step, when the summed gradients (the same in every
        process, so all stop together) or, in one process, the loss are not finite: the
        weights stay those of the previous step, the checkpoint those of the last finished
        epoch."""
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        total = torch.stack([g.abs().sum() for g in grads]).sum() if grads else loss.new_zeros(())
        what = "gradient" if not bool(torch.isfinite(total)) else None
        if what is None and not self.procs.active and not bool(torch.isfinite(loss.detach())):
            what = "loss"
        if what is None:
            return
        raise TrainingDiverged(
            f"training diverged at epoch {self.epoch + 1}, step {step + 1}: the {what} is not "
            "finite (stopped before the weights changed). Lower training.lr, check the "
            "labels' units and the weights of the targets; the checkpoint keeps the last "
            "finished epoch"
        )

    def validate(self) -> float:
        """The validation loss of the EMA weights (their per-property errors go to
        ``self.val_errors``)."""
        saved = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.ema.shadow)
        parts, frames = [], []
        self.val_errors = ErrorAccumulator()
        for batch, n, _ in self._batches(self.val_set, shuffle=False):
            loss, res = self._batch_loss(batch, create_graph=False)
            self.val_errors.add(res)
            parts.append(float(loss.detach()))
            frames.append(n)
        self.model.load_state_dict(saved)
        self.val_errors.reduce(self.procs)
        losses = self.procs.sum(parts)
        total = sum(loss * n for loss, n in zip(losses, frames))
        return total / max(sum(frames), 1)

    def train(self, epochs: Optional[int] = None) -> Dict[str, Any]:
        """Run until ``epochs`` (default from config) or early stopping; returns the summary."""
        last = self.cfg.epochs if epochs is None else epochs
        bar = tqdm(
            total=last, initial=self.epoch, desc="training", unit="epoch", disable=not self.progress
        )
        while self.epoch < last and self.stale < self.cfg.early_stopping_patience:
            started = time.perf_counter()
            self.model.train()
            losses = []
            errors = ErrorAccumulator()
            batches = self._batches(self.train_set, shuffle=True)
            for step, (batch, frames, mine) in enumerate(batches):
                if batch is not None:
                    self._project_bec(batch, step, frames, mine)
                self.optimizer.zero_grad(set_to_none=True)
                loss, res = self._batch_loss(batch, create_graph=True)
                if loss.requires_grad:
                    loss.backward()
                self.procs.sum_gradients(self.model.parameters())
                self._check_finite(loss, step)
                self.optimizer.step()
                self.ema.update(self.model)
                losses.append(float(loss.detach()))
                errors.add(res)
            losses = self.procs.sum(losses)
            errors.reduce(self.procs)
            self.epoch += 1
            lr = self.optimizer.param_groups[0]["lr"]  # the rate this epoch trained with
            val = self.validate()
            self.scheduler.step(val)
            row = {
                "epoch": self.epoch,
                "train_loss": float(np.mean(losses)),
                "val_loss": val,
                "lr": lr,
                "epoch_time_s": time.perf_counter() - started,
            }
            row.update(errors.summary("train"))
            row.update(self.val_errors.summary("val"))
            self.history.append(row)
            if val < self.best_val:
                self.best_val, self.stale = val, 0
                self.best_state = self.ema.state_dict()
            else:
                self.stale += 1
            if self.writes and (self.epoch % self.cfg.checkpoint_every == 0 or self.epoch == last):
                _atomic_save(self.state(), self.out / "checkpoint.pt")
            if self.writes:
                self.write_history()
            if self.tensorboard is not None:
                self.tensorboard.add(row)
            bar.set_postfix(progress_text(row))
            bar.update(1)
        bar.close()
        return {"epochs": self.epoch, "best_val_loss": self.best_val}

    def best_model(self) -> PolMLIP:
        """The model with the best EMA weights seen on validation, on the CPU.

        When the data cannot fix the sign of the latent multipoles, it is oriented by
        the electronegativity convention of :mod:`polmlip.train.orient`.
        """
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.model = self.model.cpu()
        if not sign_is_determined(self.train_set, self.weights):
            orient_multipoles(self.model, self.train_set, self.run.model.elements)
        return self.model

    def write_history(self) -> None:
        """``history.json`` and ``metrics.csv`` of the epochs so far (both atomic; the
        trainer writes them after every epoch, see :mod:`polmlip.train.metrics`)."""
        write_text(self.out / "history.json", json.dumps(self.history, indent=1))
        write_metrics_csv(self.out / "metrics.csv", self.history)
