"""Data preparation for training: split, graphs, energy shifts and scales."""

from __future__ import annotations

import random
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from .. import keys, units
from ..data.dataset import DataKeys, build_dataset, read_frames
from ..data.graph import closest_pair
from ..data.store import FrameStore, StoredGraphs, is_frame_store
from ..data.targets import TARGETS
from ..errors import InputError
from ..keys import BEC_LAYOUTS
from .config import RunConfig

#: a data set as training reads it: graphs in memory, or frames of a preprocessed set
Graphs = Union[List[Dict[str, torch.Tensor]], StoredGraphs]


def load_splits(run: RunConfig) -> Tuple[Graphs, Graphs]:
    """Training and validation graphs (seeded split unless a validation file is given).

    ``data.train`` and ``data.validation`` are extxyz files (read into memory) or frame sets
    written by ``polmlip preprocess`` (read lazily, :class:`StoredGraphs`)."""
    dtype = getattr(torch, run.training.dtype)
    dkeys = DataKeys.from_dict(run.data.keys)
    train_source = _open_source(run, run.data.train, dkeys)
    n_train = len(train_source)
    if run.training.max_frames:
        n_train = min(n_train, run.training.max_frames)
    train_numbers = list(range(n_train))
    val_source = train_source
    if run.data.validation:
        val_source = _open_source(run, run.data.validation, dkeys)
        val_numbers = list(range(len(val_source)))
    else:
        order = list(range(n_train))
        random.Random(run.training.seed).shuffle(order)
        n_val = max(1, int(round(run.data.val_fraction * len(order))))
        if n_val >= len(order):
            raise InputError("not enough frames to hold out a validation set")
        train_numbers, val_numbers = order[n_val:], order[:n_val]
    train = _graphs(run, dkeys, dtype, run.data.train, train_source, train_numbers)
    val = _graphs(run, dkeys, dtype, run.data.validation or run.data.train, val_source, val_numbers)
    if run.model.min_distance is None:
        numbers = train.numbers() if isinstance(train, StoredGraphs) else train_numbers
        check_closest_pairs(closest_pairs(train), repr(str(run.data.train)), numbers)
    for part in (train, val):
        if run.data.bec_scale != 1.0 and not isinstance(part, StoredGraphs):
            for g in part:
                if keys.REF_BEC in g:
                    g[keys.REF_BEC] = g[keys.REF_BEC] * run.data.bec_scale
    names = sorted(set(_property_names(train_source)) | set(_property_names(val_source)))
    check_targets(run, dkeys, [train, val], names)
    return train, val


def _open_source(run: RunConfig, name: str, dkeys: DataKeys):
    """The frames of data file ``name``: a list of ASE ``Atoms``, or a :class:`FrameStore`
    for a folder written by ``polmlip preprocess``."""
    path = run.base_dir / name
    if not is_frame_store(path):
        return read_frames(path)
    store = FrameStore(path)
    layout = run.data.bec_layout if run.data.bec_layout != BEC_LAYOUTS[0] else None
    store.check_read_settings(run.data.keys, layout, "data.keys and data.bec_layout")
    return store


def _graphs(run: RunConfig, dkeys, dtype, name: str, source, numbers: List[int]) -> Graphs:
    """The graphs of frames ``numbers`` of ``source`` (see :func:`_open_source`)."""
    cfg = run.model
    if isinstance(source, FrameStore):
        return StoredGraphs(
            source, numbers, cfg.elements, cfg.cutoff, dtype, run.data.bec_scale, ("energy",)
        )
    frames = [source[i] for i in numbers]
    layout = run.data.bec_layout
    where = repr(str(name))
    return build_dataset(
        frames, cfg.elements, cfg.cutoff, dkeys, ("energy",), dtype, layout, where, numbers
    )


def _property_names(source) -> List[str]:
    """The names under which the frames of ``source`` store properties (info, arrays,
    calculator results)."""
    if isinstance(source, FrameStore):
        return list(source.manifest["property_names"])
    names = set()
    for atoms in source:
        names |= set(atoms.info) | set(atoms.arrays)
        if atoms.calc is not None:
            names |= set(atoms.calc.results)
    return sorted(names - {"numbers", "positions"})


def has_target(graphs: Graphs, name: str) -> np.ndarray:
    """(len(graphs),) bool: the frames that have a reference value of target ``name``."""
    if isinstance(graphs, StoredGraphs):
        return graphs.has(name)
    reference = TARGETS[name].reference
    return np.array([reference in g for g in graphs], dtype=bool)


def target_weights(run: RunConfig) -> Dict[str, float]:
    """The loss weight of every target (:data:`TARGETS`), from ``training.<name>_weight``."""
    return {name: float(getattr(run.training, name + "_weight")) for name in TARGETS}


def check_targets(
    run: RunConfig, dkeys: DataKeys, parts: List[Graphs], available: List[str]
) -> None:
    """Refuse data that cannot give what the configuration asks: a ``data.keys`` mapping that
    matches no frame of the data sets ``parts``, or a weighted target that no frame has (it
    would silently not be fit)."""
    files = " and ".join(
        repr(str(f)) for f in (run.data.train, run.data.validation) if f is not None
    )
    weights = target_weights(run)
    for name in TARGETS:
        if any(has_target(part, name).any() for part in parts):
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


def _value_range(graphs: Graphs, name: str) -> Tuple[float, float]:
    """(smallest, largest) value of target ``name`` over the frames that have it (energy per
    atom), in the unit it is read in."""
    if isinstance(graphs, StoredGraphs):
        lo, hi = float("inf"), float("-inf")
        for values in graphs.label_values(name):
            lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
        return lo, hi
    reference = TARGETS[name].reference
    have = [g for g in graphs if reference in g]
    values = [g[reference] for g in have]
    if name == "energy":
        values = [v / g[keys.SPECIES].shape[0] for v, g in zip(values, have)]
    flat = torch.cat([v.reshape(-1) for v in values])
    return float(flat.min()), float(flat.max())


def describe_targets(run: RunConfig, train: Graphs, val: Graphs) -> List[str]:
    """What training will fit, one line per target the data has: frames with it (training /
    validation), its range in the unit it is read in, and its weight."""
    weights = target_weights(run)
    lines = []
    for name, target in TARGETS.items():
        have = int(has_target(train, name).sum())
        have_val = int(has_target(val, name).sum())
        if not have and not have_val:
            continue
        lo, hi = _value_range(train if have else val, name)
        fit = f"weight {weights[name]:g}" if weights[name] > 0 else "not fit (weight 0)"
        lines.append(
            f"  {name:<13} {have:>6} / {len(train)} training, {have_val:>5} / {len(val)} "
            f"validation frames; {lo:.4g} to {hi:.4g} {target.unit}; {fit}"
        )
    return lines


def fit_energy_shifts(
    graphs: Graphs, n_species: int, values: Optional[np.ndarray] = None
) -> np.ndarray:
    """Per-element energies (eV) by least squares: E_frame ≈ Σ_s n_s shift_s, over the frames
    with a reference energy, or over all frames with ``values`` (one per graph) in place of
    the reference energies. With every frame of one composition the system is
    underdetermined and the minimum-norm solution reproduces the mean."""
    if isinstance(graphs, StoredGraphs):
        rows = np.ones(len(graphs), dtype=bool) if values is not None else graphs.has("energy")
        if not rows.any():
            return np.zeros(n_species)
        counts = graphs.composition()[rows]
        energies = graphs.frame_values("energy") if values is None else np.asarray(values)
        energies = energies[rows]
        shifts, *_ = np.linalg.lstsq(counts, energies, rcond=None)
        return shifts
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


def force_rms(graphs: Graphs) -> float:
    """Root-mean-square force component of the data (eV/Å), the energy scale of the network."""
    if isinstance(graphs, StoredGraphs):
        rms = graphs.force_rms()
        return 1.0 if rms is None else max(rms, 1e-3)
    values = [g[keys.REF_FORCES].reshape(-1) for g in graphs if keys.REF_FORCES in g]
    if not values:
        return 1.0
    return float(torch.cat(values).pow(2).mean().sqrt().clamp_min(1e-3))


def average_neighbors(graphs: Graphs) -> float:
    """The mean number of neighbours per atom within the cutoff."""
    if isinstance(graphs, StoredGraphs):
        offsets = graphs.store.arrays["atom_offset"]
        atoms = int((offsets[graphs.indices + 1] - offsets[graphs.indices]).sum())
        return max(1.0, graphs.pair_count() / max(atoms, 1))
    edges = sum(int(g[keys.EDGE_INDEX].shape[1]) for g in graphs)
    atoms = sum(int(g[keys.SPECIES].shape[0]) for g in graphs)
    return max(1.0, edges / max(atoms, 1))


def training_field_limit(graphs: Graphs) -> float:
    """The largest applied field (V/Å) a model trained on ``graphs`` accepts:
    FIELD_LIMIT_OVER_TRAINING × the largest training field, at least DEFAULT_FIELD_LIMIT."""
    biggest = 0.0
    if isinstance(graphs, StoredGraphs):
        fields = graphs.frame_values("external_field")
        biggest = float(np.linalg.norm(fields, axis=-1).max(initial=0.0))
    else:
        for g in graphs:
            biggest = max(biggest, float(torch.linalg.norm(g[keys.EXTERNAL_FIELD], dim=-1).max()))
    return max(units.DEFAULT_FIELD_LIMIT, units.FIELD_LIMIT_OVER_TRAINING * biggest)


def closest_pairs(graphs: Graphs) -> List[float]:
    """Each frame's closest pair (Å, periodic images included; inf without pairs)."""
    if isinstance(graphs, StoredGraphs):
        return [float(c) for c in graphs.closest_pairs()]
    return [closest_pair(g) for g in graphs]


def min_distance_for(closest: List[float]) -> float:
    """The shortest interatomic distance (Å) a model trained on frames whose closest pairs
    are ``closest`` accepts: MIN_DISTANCE_OF_TRAINING × the shortest, at least MIN_DISTANCE."""
    shortest = min(closest, default=float("inf"))
    if shortest == float("inf"):
        return units.MIN_DISTANCE
    return max(units.MIN_DISTANCE, units.MIN_DISTANCE_OF_TRAINING * shortest)


def training_min_distance(graphs: Graphs) -> float:
    """The shortest interatomic distance (Å) a model trained on ``graphs`` accepts
    (:func:`min_distance_for` of their closest pairs)."""
    return min_distance_for(closest_pairs(graphs))


def check_closest_pairs(closest: List[float], source: str, numbers: List[int]) -> None:
    """Refuse a frame whose closest pair is under half the data's typical closest pair
    (``closest``: each frame's, :func:`closest_pairs`): it alone would set the model's
    minimum-distance guard (:func:`training_min_distance`), which every engine enforces, far
    below what the other frames support (e.g. a periodic cell smaller than a bond, whose
    images nearly overlap)."""
    finite = [c for c in closest if c < float("inf")]
    if len(finite) < 2:
        return
    typical = float(np.median(finite))
    k = int(np.argmin(closest))
    if closest[k] >= 0.5 * typical:
        return
    without = min_distance_for([c for n, c in enumerate(closest) if n != k])
    raise InputError(
        f"{source}, frame {numbers[k]} (counting from 0): two atoms are {closest[k]:.3g} Å "
        f"apart (periodic images included), under half the data's typical closest pair "
        f"({typical:.3g} Å); it would lower the model's minimum-distance guard to "
        f"{min_distance_for([closest[k]]):.3g} Å (without it: {without:.3g} Å) for every "
        "engine. Fix or remove the frame (a periodic cell smaller than a bond?), or set "
        "model.min_distance to keep it"
    )
