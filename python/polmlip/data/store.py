"""Preprocessed frame sets on disk, read lazily: data that does not fit in memory.

``polmlip preprocess data.xyz -o data.frames`` reads an extxyz file once, frame by frame,
checks every frame by the rules training applies to extxyz (:func:`frame_targets`,
:func:`atoms_to_graph`, :class:`BecLayoutCheck`), and writes a folder:

* ``manifest.json``: the format and its version, the frame and atom counts, the source
  file and its fingerprint, the settings the frames were read with (property names, Born
  charge layout), the cutoff of the stored neighbour statistics, the elements, and the
  shape and type of each array;
* one NumPy ``.npy`` array per quantity, the frames' rows one after another: per atom
  (``numbers``, ``positions``, per-atom labels, shape (N_atoms_total, ...)) or per frame
  (``cell``, ``pbc``, ``atom_offset`` (F + 1) where frame k has atoms
  ``atom_offset[k]:atom_offset[k+1]``, per-frame labels, ``has_<label>`` masks). Born charges
  are stored as Z*_βγ = ∂P_β/∂r_γ whatever layout the source used, the stress as 3×3.

Why this format rather than HDF5 or LMDB: each array is a plain ``.npy`` file (NumPy's own,
documented format, readable by any NumPy without polmlip), opened with ``mmap_mode="r"``,
so a frame is two slices of memory-mapped arrays: O(1) access without a reader library,
no new dependency, and every training process of a node shares the same pages of the
operating system's cache. Only the frames of the current batch are ever copied into the
process. HDF5 would add a compiled dependency and a per-process chunk cache; LMDB stores
pickled frames, which must be decoded one by one.

Neighbour lists are not stored: they are rebuilt per batch (:class:`StoredGraphs`), which
costs well under the model's own time per frame (measured in ``benchmarks/training.py``)
and keeps the set independent of the model's cutoff. What training needs from the
neighbour lists of all frames (the closest pair and the number of pairs per frame) is
stored at the cutoff given to ``polmlip preprocess`` and recomputed if a model uses another.
"""

from __future__ import annotations

import json
import pathlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .. import keys
from ..errors import InputError
from ..keys import REFERENCE_PREFIX
from .dataset import DataKeys
from .graph import atoms_to_graph, closest_pair, species_index
from .targets import TARGETS

FORMAT = "polmlip-frames"
VERSION = 1
MANIFEST = "manifest.json"
#: frames per block when a statistic runs over every frame of a set (bounded memory)
BLOCK_FRAMES = 4096

#: per-frame arrays every set has: (dtype, shape of one row)
FRAME_ARRAYS = {
    "cell": ("float64", (3, 3)),
    "pbc": ("bool", (3,)),
    "total_charge": ("float64", ()),
    "external_field": ("float64", (3,)),
    "source_frame": ("int64", ()),
    "pairs": ("int64", ()),
    "closest_pair": ("float64", ()),
}
#: per-atom arrays every set has
ATOM_ARRAYS = {"numbers": ("uint8", ()), "positions": ("float64", (3,))}


def is_frame_store(path: Union[str, pathlib.Path]) -> bool:
    """Whether ``path`` is a folder written by ``polmlip preprocess``."""
    path = pathlib.Path(path)
    return path.is_dir() and (path / MANIFEST).is_file()


def target_row(name: str) -> Tuple[str, Tuple[int, ...]]:
    """(per "atom" or "frame", the shape of one row) of a target's stored array."""
    target = TARGETS[name]
    if name == "stress":
        return "frame", (3, 3)
    shape = tuple(int(d) for d in target.shape[1:]) if target.per_atom else target.shape
    return ("atom" if target.per_atom else "frame"), tuple(shape)


class FrameStore:
    """A frame set written by :func:`preprocess`, its arrays memory-mapped (read-only).

    Attributes: ``path``; ``manifest`` (dict); ``frames`` and ``atoms`` (counts);
    ``arrays`` (name -> memory-mapped array, see the module's description).
    """

    def __init__(self, path: Union[str, pathlib.Path]) -> None:
        self.path = pathlib.Path(path)
        where = repr(str(self.path))
        if not is_frame_store(self.path):
            raise InputError(f"{where} is not a frame set (no {MANIFEST}; polmlip preprocess)")
        try:
            manifest = json.loads((self.path / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {where}/{MANIFEST}: {exc}") from None
        if not isinstance(manifest, dict):
            raise InputError(f"{where}/{MANIFEST} is not a frame-set manifest (not a mapping)")
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise InputError(
                f"{where} is a frame set of format {manifest.get('format')!r} version "
                f"{manifest.get('version')!r}; this polmlip reads {FORMAT!r} version {VERSION}: "
                "run polmlip preprocess again on the source file"
            )
        required = {
            "frames": int,
            "atoms": int,
            "arrays": dict,
            "keys": dict,
            "labels": list,
            "elements": list,
            "cutoff": float,
            "bec_layout": str,
            "property_names": list,
        }
        damaged = [
            k
            for k, kind in required.items()
            if not isinstance(manifest.get(k), (int, float) if kind is float else kind)
        ]
        if damaged or not set(manifest["labels"]) <= set(TARGETS):
            raise InputError(
                f"{where}/{MANIFEST} is damaged (missing or wrong: {damaged or ['labels']}); "
                "run polmlip preprocess again"
            )
        self.manifest = manifest
        self.frames, self.atoms = int(manifest["frames"]), int(manifest["atoms"])
        self.arrays: Dict[str, np.ndarray] = {}
        for name, spec in manifest["arrays"].items():
            file = self.path / f"{name}.npy"
            try:
                array = np.load(file, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise InputError(f"{where}: cannot read {file.name} ({exc})") from None
            if list(array.shape) != list(spec["shape"]) or array.dtype.str != spec["dtype"]:
                raise InputError(
                    f"{where}: {file.name} holds {array.dtype.str} {list(array.shape)}, the "
                    f"manifest says {spec['dtype']} {spec['shape']}: the set is damaged; run "
                    "polmlip preprocess again"
                )
            self.arrays[name] = array
        needed = ["atom_offset", *ATOM_ARRAYS, *FRAME_ARRAYS]
        for name in manifest["labels"]:
            needed += [name, "has_" + name]
        missing = [n for n in needed if n not in self.arrays]
        if missing:
            raise InputError(f"{where} lacks the arrays {missing}; run polmlip preprocess again")

    def __len__(self) -> int:
        return self.frames

    def __getstate__(self) -> Dict:
        """Pickled (a worker process that is not forked) as its path: the arrays are opened
        again there, memory-mapped, instead of being copied."""
        return {"path": str(self.path)}

    def __setstate__(self, state: Dict) -> None:
        self.__init__(state["path"])

    @property
    def labels(self) -> List[str]:
        """The targets (:data:`TARGETS`) that at least one frame has."""
        return list(self.manifest["labels"])

    def atom_range(self, frame: int) -> Tuple[int, int]:
        offsets = self.arrays["atom_offset"]
        return int(offsets[frame]), int(offsets[frame + 1])

    def atoms_of(self, frame: int):
        """Frame ``frame`` as ASE ``Atoms`` (positions, numbers, cell, pbc)."""
        import ase

        a, b = self.atom_range(frame)
        return ase.Atoms(
            numbers=np.asarray(self.arrays["numbers"][a:b], dtype=np.int64),
            positions=np.array(self.arrays["positions"][a:b]),
            cell=np.array(self.arrays["cell"][frame]),
            pbc=np.array(self.arrays["pbc"][frame]),
        )

    def check_read_settings(
        self, given_keys: Dict[str, Sequence[str]], bec_layout: Optional[str], setting: str
    ) -> None:
        """Refuse reading settings given now that differ from those the set was made with:
        they apply when the set is made (``polmlip preprocess --keys/--bec-layout``) and would
        be silently ignored here. ``given_keys``: the names given now (a data-keys mapping,
        a name or a list per property; empty when none are); ``bec_layout``: the layout given
        now, None when none is."""
        given = DataKeys.from_dict(dict(given_keys))
        made = self.manifest["keys"]
        differ = [
            f"keys.{name}: made with {list(made.get(name, []))}, asked {list(getattr(given, name))}"
            for name in given_keys
            if tuple(made.get(name, ())) != tuple(getattr(given, name))
        ]
        if bec_layout is not None and bec_layout != self.manifest["bec_layout"]:
            differ.append(
                f"bec_layout: made with {self.manifest['bec_layout']!r}, asked {bec_layout!r}"
            )
        if differ:
            raise InputError(
                f"{str(self.path)!r} was preprocessed with other reading settings than "
                f"{setting} ask for ({'; '.join(differ)}): these settings apply when the set "
                "is made; run polmlip preprocess with them, or leave them out here"
            )


class _SourceNumbers(Sequence):
    """The source file's frame number of each frame of a :class:`StoredGraphs`, on demand."""

    def __init__(self, graphs: StoredGraphs) -> None:
        self.graphs = graphs

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        return self.graphs.source_frame(int(self.graphs.indices[k]))


class StoredGraphs(Sequence):
    """Frames ``indices`` of a :class:`FrameStore` as model graphs (the dicts
    :func:`~polmlip.data.dataset.build_dataset` gives), each built when asked: a sequence
    that training, validation and evaluation index like a list, in bounded memory.

    The set-wide statistics training needs (:meth:`force_rms`, :meth:`composition`,
    :meth:`closest_pairs`, ...) read the stored arrays block by block, not the graphs.
    """

    def __init__(
        self,
        store: FrameStore,
        indices: Sequence[int],
        elements: Sequence[str],
        cutoff: float,
        dtype: torch.dtype = torch.float64,
        bec_scale: float = 1.0,
        required: Sequence[str] = ("energy",),
    ) -> None:
        self.store = store
        self.indices = np.asarray(indices, dtype=np.int64)
        self.elements, self.cutoff = list(elements), float(cutoff)
        self.dtype, self.bec_scale = dtype, float(bec_scale)
        self.source = repr(str(store.path))
        try:
            species_index(store.manifest["elements"], self.elements)
        except InputError as exc:
            raise InputError(f"{self.source}: {exc}") from None
        from ase.data import atomic_numbers

        self._species_of = np.full(256, -1, dtype=np.int64)
        for s, e in enumerate(self.elements):
            self._species_of[atomic_numbers[e]] = s
        for name in required:
            have = self.has(name)
            if not have.all():
                k = int(self.indices[np.argmin(have)])
                raise InputError(
                    f"{self.source}, frame {self.source_frame(k)} (counting from 0): the frame "
                    f"has no {[name]}; looked for names {store.manifest['keys'][name]} "
                    "when the set was made"
                )
        self._neighbors: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        return self.graph(int(self.indices[item]))

    def subset(self, positions: Sequence[int]) -> StoredGraphs:
        """The frames at ``positions`` of this sequence, as a new one."""
        new = object.__new__(StoredGraphs)
        new.__dict__.update(self.__dict__)
        new.indices = self.indices[np.asarray(positions, dtype=np.int64)]
        new._neighbors = None
        return new

    def source_frame(self, frame: int) -> int:
        """The number (from 0) in the source file of stored frame ``frame``."""
        return int(self.store.arrays["source_frame"][frame])

    def numbers(self) -> Sequence[int]:
        """The source file's frame numbers of these frames (a lazy sequence: messages index
        it, nothing reads all of it)."""
        return _SourceNumbers(self)

    def graph(self, frame: int) -> Dict[str, torch.Tensor]:
        """Stored frame ``frame`` as a graph with its ``ref_`` targets."""
        arrays, store = self.store.arrays, self.store
        g = atoms_to_graph(
            store.atoms_of(frame),
            self.elements,
            self.cutoff,
            external_field=np.array(arrays["external_field"][frame]),
            total_charge=float(arrays["total_charge"][frame]),
            dtype=self.dtype,
        )
        a, b = store.atom_range(frame)
        for name in store.labels:
            if not arrays["has_" + name][frame]:
                continue
            per, _ = target_row(name)
            value = torch.tensor(
                np.array(arrays[name][a:b] if per == "atom" else arrays[name][frame]),
                dtype=self.dtype,
            )
            if name == "bec" and self.bec_scale != 1.0:
                value = value * self.bec_scale
            g[REFERENCE_PREFIX + name] = value if per == "atom" else value[None]
        return g

    # ---- statistics over all frames, from the stored arrays ----
    def has(self, name: str) -> np.ndarray:
        """(len,) bool: which frames have the target ``name``."""
        if name not in self.store.labels:
            return np.zeros(len(self), dtype=bool)
        return np.asarray(self.store.arrays["has_" + name][self.indices], dtype=bool)

    def _blocks(self) -> Iterator[np.ndarray]:
        for s in range(0, len(self), BLOCK_FRAMES):
            yield self.indices[s : s + BLOCK_FRAMES]

    def _atom_rows(self, name: str, frames: np.ndarray) -> np.ndarray:
        """The rows of per-atom array ``name`` of ``frames`` (in order)."""
        offsets = self.store.arrays["atom_offset"]
        array = self.store.arrays[name]
        parts = [array[offsets[k] : offsets[k + 1]] for k in frames]
        if not parts:
            return np.zeros((0,) + array.shape[1:], dtype=array.dtype)
        return np.concatenate(parts)

    def composition(self) -> np.ndarray:
        """(len, n_elements) float: how many atoms of each element every frame has."""
        offsets = self.store.arrays["atom_offset"]
        out = np.zeros((len(self), len(self.elements)))
        row = 0
        for block in self._blocks():
            for k in block:
                z = self.store.arrays["numbers"][offsets[k] : offsets[k + 1]]
                out[row] = np.bincount(self._species_of[z], minlength=len(self.elements))
                row += 1
        return out

    def frame_values(self, name: str) -> np.ndarray:
        """(len, ...) the per-frame array ``name`` (a label or a stored frame quantity)."""
        return np.asarray(self.store.arrays[name][self.indices])

    def label_values(self, name: str) -> Iterator[np.ndarray]:
        """The values of target ``name`` of the frames that have it, a block at a time
        (energies per atom; per-atom targets as their rows)."""
        per, _ = target_row(name)
        have_all = self.store.arrays["has_" + name]
        offsets = self.store.arrays["atom_offset"]
        for block in self._blocks():
            frames = block[np.asarray(have_all[block], dtype=bool)]
            if not len(frames):
                continue
            if per == "atom":
                values = self._atom_rows(name, frames)
            else:
                values = np.asarray(self.store.arrays[name][frames])
            if name == "energy":
                values = values / (offsets[frames + 1] - offsets[frames])
            if name == "bec" and self.bec_scale != 1.0:
                values = values * self.bec_scale
            yield values

    def force_rms(self) -> Optional[float]:
        """Root-mean-square reference force component (eV/Å); None without forces."""
        if "forces" not in self.store.labels:
            return None
        total, count = 0.0, 0
        for rows in self.label_values("forces"):
            total += float(np.square(rows).sum())
            count += rows.size
        return float(np.sqrt(total / count)) if count else None

    def _neighbor_statistics(self) -> Tuple[np.ndarray, np.ndarray]:
        """(pairs per frame, closest pair per frame in Å) at this sequence's cutoff: stored
        when the set was made at the same cutoff, else built from the frames once."""
        if self._neighbors is None:
            if self.store.manifest["cutoff"] == self.cutoff:
                self._neighbors = (
                    self.frame_values("pairs"),
                    self.frame_values("closest_pair"),
                )
            else:
                from tqdm.auto import tqdm

                pairs, closest = np.zeros(len(self), dtype=np.int64), np.zeros(len(self))
                for n in tqdm(range(len(self)), desc="neighbour statistics", unit="frame"):
                    frame = int(self.indices[n])
                    try:
                        g = self.graph(frame)
                    except InputError as exc:
                        raise InputError(
                            f"{self.source}, frame {self.source_frame(frame)} (counting from "
                            f"0): {exc}"
                        ) from None
                    pairs[n], closest[n] = g[keys.EDGE_INDEX].shape[1], closest_pair(g)
                self._neighbors = (pairs, closest)
        return self._neighbors

    def pair_count(self) -> int:
        """The number of (directed) neighbour pairs of all frames at the cutoff."""
        return int(self._neighbor_statistics()[0].sum())

    def closest_pairs(self) -> np.ndarray:
        """(len,) Å: each frame's closest pair (inf without pairs within the cutoff)."""
        return self._neighbor_statistics()[1]
