"""PNG plots people would rather look at than read: learning curves and parity plots."""

from __future__ import annotations

import pathlib
from typing import Dict, List

import numpy as np

from ..fileio import save_figure


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curve(history: List[Dict[str, float]], path: pathlib.Path) -> None:
    """Training and validation loss per epoch, log scale."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(epochs, [h["train_loss"] for h in history], label="train")
    ax.semilogy(epochs, [h["val_loss"] for h in history], label="validation (EMA)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("weighted loss")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def parity(ref: np.ndarray, pred: np.ndarray, label: str, unit: str, path: pathlib.Path) -> None:
    """Predicted against reference values with MAE and RMSE in the title."""
    plt = _pyplot()
    ref = np.asarray(ref).reshape(-1)
    pred = np.asarray(pred).reshape(-1)
    mae = float(np.abs(pred - ref).mean())
    rmse = float(np.sqrt(((pred - ref) ** 2).mean()))
    fig, ax = plt.subplots(figsize=(4, 4))
    lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.scatter(ref, pred, s=4, alpha=0.6)
    ax.set_xlabel(f"reference {label} [{unit}]")
    ax.set_ylabel(f"polmlip {label} [{unit}]")
    ax.set_title(f"MAE {mae:.3g}  RMSE {rmse:.3g} {unit}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
