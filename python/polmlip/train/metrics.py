"""The live training log: per-property errors of an epoch and ``metrics.csv``.

After every epoch the trainer appends one row to its history and rewrites ``metrics.csv``
(atomically, so a killed run leaves a complete file with every finished epoch) and
``history.json``. Columns: ``epoch``, ``epoch_time_s``, ``lr``, ``train_loss``, ``val_loss``,
then ``{train,val}_{property}_{mae,rmse}`` in the property's unit (:data:`TARGETS`; energy per
atom). With ``bec_loss: projected`` the training Born-charge errors are those of the
projections vᵀZ*/√3 the loss sees; validation always compares all 9 components.
"""

from __future__ import annotations

import csv
import io
import math
import pathlib
from typing import Dict, List, Mapping

import torch

from ..data.targets import TARGETS
from ..errors import InputError
from ..fileio import write_text
from .parallel import reduce_sums

#: the first columns of metrics.csv, before the per-property errors
LEADING_COLUMNS = ("epoch", "epoch_time_s", "lr", "train_loss", "val_loss")


class ErrorAccumulator:
    """Sums of |r|, r² and counts of the residuals of each property over batches."""

    def __init__(self) -> None:
        self.sums: Dict[str, List[float]] = {}

    def add(self, residuals: Mapping[str, torch.Tensor]) -> None:
        """Add one batch's residuals (prediction − reference per property, in its unit)."""
        for name, r in residuals.items():
            r = r.detach()
            s = self.sums.setdefault(name, [0.0, 0.0, 0])
            s[0] += float(r.abs().sum())
            s[1] += float((r * r).sum())
            s[2] += int(r.numel())

    def reduce(self, procs) -> None:
        """Sum the errors over the data-parallel processes (:class:`~.parallel.Processes`),
        in place, so that every process holds those of the whole epoch."""
        if procs.world > 1:
            total = reduce_sums(procs, self.sums, list(TARGETS))
            self.sums = {name: s for name, s in total.items() if s[2] > 0}

    def summary(self, prefix: str) -> Dict[str, float]:
        """``{prefix}_{name}_mae`` and ``_rmse`` of every property seen."""
        out: Dict[str, float] = {}
        for name, (abs_sum, sq_sum, count) in self.sums.items():
            if count:
                out[f"{prefix}_{name}_mae"] = abs_sum / count
                out[f"{prefix}_{name}_rmse"] = math.sqrt(sq_sum / count)
        return out


def metric_columns(history: List[Mapping[str, float]]) -> List[str]:
    """The columns of metrics.csv: the leading ones, then the per-property errors found in
    ``history`` in the order of :data:`TARGETS` (train, then validation)."""
    found = set().union(*[set(row) for row in history]) if history else set()
    columns = list(LEADING_COLUMNS)
    for split in ("train", "val"):
        for name in TARGETS:
            for stat in ("mae", "rmse"):
                key = f"{split}_{name}_{stat}"
                if key in found:
                    columns.append(key)
    return columns


def write_metrics_csv(path: pathlib.Path, history: List[Mapping[str, float]]) -> pathlib.Path:
    """Write ``history`` (one mapping per epoch) as metrics.csv, atomically; a property an
    epoch lacks is left empty."""
    columns = metric_columns(history)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return write_text(path, text.getvalue())


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.8g}"
    return str(value)


def progress_text(row: Mapping[str, float]) -> Dict[str, str]:
    """The progress bar's postfix: losses and the validation MAEs of the targets that
    declare a ``progress`` label (:data:`TARGETS`: energy, forces, dipoles, Born charges)."""
    out = {"train": f"{row['train_loss']:.3g}", "val": f"{row['val_loss']:.3g}"}
    for name, target in TARGETS.items():
        if target.progress is None:
            continue
        label, scale, unit = target.progress
        key = f"val_{name}_mae"
        if key in row:
            out[label] = f"{scale * row[key]:.3g} {unit}"
    return out


class TensorBoardLog:
    """Every history row as TensorBoard scalars (``epoch`` is the step), in ``folder``.

    Raises :class:`~polmlip.errors.InputError` when the ``tensorboard`` package is missing
    (polmlip does not depend on it)."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.writer = summary_writer_class()(log_dir=str(folder))

    def add(self, row: Mapping[str, float]) -> None:
        step = int(row["epoch"])
        for name, value in row.items():
            if name != "epoch":
                self.writer.add_scalar(name, float(value), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def summary_writer_class():
    """TensorBoard's ``SummaryWriter``, or an :class:`~polmlip.errors.InputError` that says
    how to install it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InputError(
            "training.tensorboard needs the tensorboard package (pip install tensorboard); "
            "metrics.csv has the same numbers"
        ) from None
    return SummaryWriter
