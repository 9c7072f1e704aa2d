"""Data preparation for training: split, graphs, energy shifts and scales."""

from __future__ import annotations

import random
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from .. import keys, units
from ..data.dataset import DataKeys, build_dataset, read_frames
from ..data.graph import collate
from ..data.targets import TARGETS
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
    train_source = val_source = repr(str(run.data.train))
    train_numbers = list(range(len(train_frames)))
    if run.data.validation:
        val_frames = read_frames(run.base_dir / run.data.validation)
        val_source, val_numbers = repr(str(run.data.validation)), list(range(len(val_frames)))
    else:
        order = list(range(len(train_frames)))
        random.Random(run.training.seed).shuffle(order)
        n_val = max(1, int(round(run.data.val_fraction * len(order))))
        if n_val >= len(order):
            raise InputError("not enough frames to hold out a validation set")
        val_frames = [train_frames[i] for i in order[:n_val]]
        train_frames = [train_frames[i] for i in order[n_val:]]
        train_numbers, val_numbers = order[n_val:], order[:n_val]
    cfg = run.model
    layout = run.data.bec_layout

    def graphs(frames, source, numbers):
        return build_dataset(
            frames, cfg.elements, cfg.cutoff, dkeys, ("energy",), dtype, layout, source, numbers
        )

    train = graphs(train_frames, train_source, train_numbers)
    val = graphs(val_frames, val_source, val_numbers)
    if cfg.min_distance is None:
        check_closest_pairs(train, train_source, train_numbers)
    if run.data.bec_scale != 1.0:
        for g in train + val:
            if keys.REF_BEC in g:
                g[keys.REF_BEC] = g[keys.REF_BEC] * run.data.bec_scale
    check_targets(run, dkeys, train + val, _property_names(train_frames + val_frames))
    return train, val


def _property_names(frames: list) -> List[str]:
    """The names under which ``frames`` store properties (info, arrays, calculator results)."""
    names = set()
    for atoms in frames:
        names |= set(atoms.info) | set(atoms.arrays)
        if atoms.calc is not None:
            names |= set(atoms.calc.results)
    return sorted(names - {"numbers", "positions"})


def target_weights(run: RunConfig) -> Dict[str, float]:
    """The loss weight of every target (:data:`TARGETS`), from ``training.<name>_weight``."""
    return {name: float(getattr(run.training, name + "_weight")) for name in TARGETS}


def check_targets(
    run: RunConfig, dkeys: DataKeys, graphs: List[Dict[str, torch.Tensor]], available: List[str]
) -> None:
    """Refuse data that cannot give what the configuration asks: a ``data.keys`` mapping that
    matches no frame, or a weighted target that no frame has (it would silently not be fit)."""
    files = " and ".join(
        repr(str(f)) for f in (run.data.train, run.data.validation) if f is not None
    )
    weights = target_weights(run)
    for name, target in TARGETS.items():
        if any(target.reference in g for g in graphs):
            continue
        names = list(getattr(dkeys, name))
        if name in run.data.keys:
            raise InputError(
                f"data.keys.{name} = {names} matches no frame of {files}, whose frames have "
                f"{available}: check the name"
            )
        if weights[name] > 0:
            raise InputError(
                f"training.{name}_weight is {weights[name]:g} but no frame of {files} has "
                f"{name} (looked for {names}; the frames have {available}): set "
                f"{name}_weight: 0 to train without it, or name it with data.keys.{name}"
            )


def describe_targets(
    run: RunConfig, train: List[Dict[str, torch.Tensor]], val: List[Dict[str, torch.Tensor]]
) -> List[str]:
    """What training will fit, one line per target the data has: frames with it (training /
    validation), its range in the unit it is read in, and its weight."""
    weights = target_weights(run)
    lines = []
    for name, target in TARGETS.items():
        have = [g for g in train if target.reference in g]
        have_val = sum(target.reference in g for g in val)
        if not have and not have_val:
            continue
        values = [g[target.reference] for g in have] or [
            g[target.reference] for g in val if target.reference in g
        ]
        if name == "energy":
            values = [v / g[keys.SPECIES].shape[0] for v, g in zip(values, have or val)]
        flat = torch.cat([v.reshape(-1) for v in values])
        fit = f"weight {weights[name]:g}" if weights[name] > 0 else "not fit (weight 0)"
        lines.append(
            f"  {name:<13} {len(have):>6} / {len(train)} training, {have_val:>5} / {len(val)} "
            f"validation frames; {float(flat.min()):.4g} to {float(flat.max()):.4g} "
            f"{target.unit}; {fit}"
        )
    return lines


def fit_energy_shifts(
    graphs: List[Dict[str, torch.Tensor]], n_species: int, values: Optional[np.ndarray] = None
) -> np.ndarray:
    """Per-element energies (eV) by least squares: E_frame ≈ Σ_s n_s shift_s, over the frames
    with a reference energy, or over all frames with ``values`` (one per graph) in place of
    the reference energies. With every frame of one composition the system is
    underdetermined and the minimum-norm solution reproduces the mean."""
    rows = [k for k, g in enumerate(graphs) if values is not None or keys.REF_ENERGY in g]
    if not rows:
        return np.zeros(n_species)
    counts = np.zeros((len(rows), n_species))
    energies = np.zeros(len(rows))
    for r, k in enumerate(rows):
        counts[r] = np.bincount(graphs[k][keys.SPECIES].numpy(), minlength=n_species)
        energies[r] = float(graphs[k][keys.REF_ENERGY][0]) if values is None else values[k]
    shifts, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return shifts


#: training frames whose untrained-model energies fit the model's initial offset per element
OFFSET_FRAMES = 256


def reference_energies(model, graphs: List[Dict[str, torch.Tensor]], n_species: int):
    """Per-element reference energies E0 (eV) for a new model: the least-squares fit of the
    training energies, minus the per-element fit of what the untrained model already gives
    (its initial read-out and long range, on up to :data:`OFFSET_FRAMES` frames), so that
    training starts without a per-atom energy offset."""
    sample = graphs[:OFFSET_FRAMES]
    offset = untrained_energies(model, sample)
    return fit_energy_shifts(graphs, n_species) - fit_energy_shifts(sample, n_species, offset)


def untrained_energies(model, graphs: List[Dict[str, torch.Tensor]], batch_size: int = 8):
    """(len(graphs),) eV: the energy of each frame from ``model`` with its reference energies
    at zero (the network's initial read-out and the long range)."""
    shift = model.energy_sum.energy_shift
    saved = shift.detach().clone()
    out = []
    with torch.no_grad():
        shift.zero_()
        try:
            for s in range(0, len(graphs), batch_size):
                batch = collate(graphs[s : s + batch_size])
                energy = model(batch, compute_forces=False)[keys.ENERGY]
                out.append(energy.detach().double().cpu().numpy())
        finally:
            shift.copy_(saved)
    return np.concatenate(out) if out else np.zeros(0)


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


def closest_pair(graph: Dict[str, torch.Tensor]) -> float:
    """The shortest distance (Å) between two atoms of a frame (periodic images included);
    inf for a frame without pairs within the cutoff."""
    i, j = graph[keys.EDGE_INDEX]
    if i.numel() == 0:
        return float("inf")
    pos = graph[keys.POSITIONS].double()
    vec = pos[j] - pos[i] + graph[keys.EDGE_SHIFT].double() @ graph[keys.CELL][0].double()
    return float(torch.linalg.norm(vec, dim=-1).min())


def training_min_distance(graphs: List[Dict[str, torch.Tensor]]) -> float:
    """The shortest interatomic distance (Å) a model trained on ``graphs`` accepts:
    MIN_DISTANCE_OF_TRAINING × the shortest pair distance in the data, at least MIN_DISTANCE."""
    shortest = min((closest_pair(g) for g in graphs), default=float("inf"))
    if shortest == float("inf"):
        return units.MIN_DISTANCE
    return max(units.MIN_DISTANCE, units.MIN_DISTANCE_OF_TRAINING * shortest)


def check_closest_pairs(
    graphs: List[Dict[str, torch.Tensor]], source: str, numbers: List[int]
) -> None:
    """Refuse a frame whose closest pair is under half the data's typical closest pair: it
    alone would set the model's minimum-distance guard (``training_min_distance``), which
    every engine enforces, far below what the other frames support (e.g. a periodic cell
    smaller than a bond, whose images nearly overlap)."""
    closest = [closest_pair(g) for g in graphs]
    finite = [c for c in closest if c < float("inf")]
    if len(finite) < 2:
        return
    typical = float(np.median(finite))
    k = int(np.argmin(closest))
    if closest[k] >= 0.5 * typical:
        return
    without = training_min_distance([g for n, g in enumerate(graphs) if n != k])
    raise InputError(
        f"{source}, frame {numbers[k]} (counting from 0): two atoms are {closest[k]:.3g} Å "
        f"apart (periodic images included), under half the data's typical closest pair "
        f"({typical:.3g} Å); it would lower the model's minimum-distance guard to "
        f"{training_min_distance([graphs[k]]):.3g} Å (without it: {without:.3g} Å) for every "
        "engine. Fix or remove the frame (a periodic cell smaller than a bond?), or set "
        "model.min_distance to keep it"
    )
