"""Data preparation for training: split, graphs, energy shifts and scales."""

from __future__ import annotations

import random
from typing import Dict, List, Tuple

import numpy as np
import torch

from .. import keys, units
from ..data.dataset import DataKeys, build_dataset, read_frames
from ..errors import InputError
from .config import RunConfig


def load_splits(
    run: RunConfig,
) -> Tuple[List[Dict[str, torch.Tensor]], List[Dict[str, torch.Tensor]]]:
    """Training and validation graphs (seeded split unless a validation file is given)."""
    dtype = getattr(torch, run.training.dtype)
    dkeys = DataKeys.from_dict(run.data.keys)
    train_frames = read_frames(run.base_dir / run.data.train)
    if run.training.max_frames:
        train_frames = train_frames[: run.training.max_frames]
    if run.data.validation:
        val_frames = read_frames(run.base_dir / run.data.validation)
    else:
        order = list(range(len(train_frames)))
        random.Random(run.training.seed).shuffle(order)
        n_val = max(1, int(round(run.data.val_fraction * len(order))))
        if n_val >= len(order):
            raise InputError("not enough frames to hold out a validation set")
        val_frames = [train_frames[i] for i in order[:n_val]]
        train_frames = [train_frames[i] for i in order[n_val:]]
    cfg = run.model
    layout = run.data.bec_layout
    train = build_dataset(train_frames, cfg.elements, cfg.cutoff, dkeys, ("energy",), dtype, layout)
    val = build_dataset(val_frames, cfg.elements, cfg.cutoff, dkeys, ("energy",), dtype, layout)
    if run.data.bec_scale != 1.0:
        for g in train + val:
            if keys.REF_BEC in g:
                g[keys.REF_BEC] = g[keys.REF_BEC] * run.data.bec_scale
    return train, val


def fit_energy_shifts(graphs: List[Dict[str, torch.Tensor]], n_species: int) -> np.ndarray:
    """Per-element energies (eV) by least squares: E_frame ≈ Σ_s n_s shift_s."""
    counts = np.zeros((len(graphs), n_species))
    energies = np.zeros(len(graphs))
    for k, g in enumerate(graphs):
        counts[k] = np.bincount(g[keys.SPECIES].numpy(), minlength=n_species)
        energies[k] = float(g[keys.REF_ENERGY][0])
    shifts, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return shifts


def force_rms(graphs: List[Dict[str, torch.Tensor]]) -> float:
    """Root-mean-square force component of the data (eV/Å), the energy scale of the network."""
    values = [g[keys.REF_FORCES].reshape(-1) for g in graphs if keys.REF_FORCES in g]
    if not values:
        return 1.0
    return float(torch.cat(values).pow(2).mean().sqrt().clamp_min(1e-3))


def average_neighbors(graphs: List[Dict[str, torch.Tensor]]) -> float:
    edges = sum(int(g[keys.EDGE_INDEX].shape[1]) for g in graphs)
    atoms = sum(int(g[keys.SPECIES].shape[0]) for g in graphs)
    return max(1.0, edges / max(atoms, 1))


def training_field_limit(graphs: List[Dict[str, torch.Tensor]]) -> float:
    """The largest applied field (V/Å) a model trained on ``graphs`` accepts:
    FIELD_LIMIT_OVER_TRAINING × the largest training field, at least DEFAULT_FIELD_LIMIT."""
    biggest = 0.0
    for g in graphs:
        biggest = max(biggest, float(torch.linalg.norm(g[keys.EXTERNAL_FIELD], dim=-1).max()))
    return max(units.DEFAULT_FIELD_LIMIT, units.FIELD_LIMIT_OVER_TRAINING * biggest)


def training_min_distance(graphs: List[Dict[str, torch.Tensor]]) -> float:
    """The shortest interatomic distance (Å) a model trained on ``graphs`` accepts:
    MIN_DISTANCE_OF_TRAINING × the shortest pair distance in the data, at least MIN_DISTANCE."""
    shortest = float("inf")
    for g in graphs:
        i, j = g[keys.EDGE_INDEX]
        if i.numel() == 0:
            continue
        pos = g[keys.POSITIONS].double()
        vec = pos[j] - pos[i] + g[keys.EDGE_SHIFT].double() @ g[keys.CELL][0].double()
        shortest = min(shortest, float(torch.linalg.norm(vec, dim=-1).min()))
    if shortest == float("inf"):
        return units.MIN_DISTANCE
    return max(units.MIN_DISTANCE, units.MIN_DISTANCE_OF_TRAINING * shortest)
