"""Writing a frame set: ``polmlip preprocess`` streams a data file once into the folder that
:mod:`polmlip.data.store` reads (the format is described there).

Every frame is checked as training checks extxyz frames (:func:`frame_graph`,
:class:`BecLayoutCheck`); memory stays bounded by one frame and the per-set sums.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
from typing import Dict, Iterator, Optional, Tuple, Union

import numpy as np
import torch

from .. import keys
from ..errors import InputError
from ..fileio import check_output, fingerprint, write_text
from ..keys import BEC_LAYOUTS
from .dataset import BecLayoutCheck, DataKeys, frame_graph
from .graph import closest_pair
from .store import ATOM_ARRAYS, FORMAT, FRAME_ARRAYS, MANIFEST, VERSION, target_row
from .targets import TARGETS


class _Column:
    """One array written row block by row block to a raw file, made an ``.npy`` at the end
    (the row count is known only then)."""

    def __init__(self, folder: pathlib.Path, name: str, dtype: str, row: Tuple[int, ...]):
        self.folder, self.name, self.dtype, self.row = folder, name, np.dtype(dtype), row
        self.raw = folder / f"{name}.raw"
        self.file = open(self.raw, "wb")
        self.rows = 0

    def append(self, values) -> None:
        block = np.ascontiguousarray(values, dtype=self.dtype).reshape((-1,) + self.row)
        self.file.write(block.tobytes())
        self.rows += len(block)

    def finish(self) -> None:
        self.file.close()
        shape = (self.rows,) + self.row
        out = np.lib.format.open_memmap(
            self.folder / f"{self.name}.npy", mode="w+", dtype=self.dtype, shape=shape
        )
        row_bytes = self.dtype.itemsize * int(np.prod(self.row, dtype=np.int64))
        step = max(1, (64 << 20) // max(row_bytes, 1))
        with open(self.raw, "rb") as f:
            for s in range(0, self.rows, step):
                n = min(step, self.rows - s)
                data = np.frombuffer(f.read(n * row_bytes), dtype=self.dtype)
                out[s : s + n] = data.reshape((n,) + self.row)
        out.flush()
        del out
        self.raw.unlink()

    def discard(self) -> None:
        self.file.close()
        self.raw.unlink(missing_ok=True)


def _iread(path: pathlib.Path) -> Iterator:
    """ASE's frames one at a time, with the frame number in the error of a bad one."""
    import ase.io

    reader = ase.io.iread(str(path))
    k = 0
    while True:
        try:
            atoms = next(reader)
        except StopIteration:
            return
        except Exception as exc:
            raise InputError(
                f"cannot read {str(path)!r}: frame {k} (counting from 0) is truncated or "
                f"malformed, after {k} good frame(s) (ASE: {exc})"
            ) from None
        yield atoms
        k += 1


def preprocess(
    source: Union[str, pathlib.Path],
    output: Union[str, pathlib.Path],
    cutoff: float,
    data_keys: Optional[DataKeys] = None,
    bec_layout: str = BEC_LAYOUTS[0],
    progress: bool = True,
) -> Dict:
    """Write the frames of ``source`` (any file ASE reads, usually extxyz) as a frame set in
    the folder ``output``; returns its manifest.

    Every frame is checked as training checks extxyz frames, and the first bad one stops the
    run with its number; nothing is left at ``output`` unless the whole set was written
    (the folder is built beside it and renamed at the end). ``cutoff`` (Å): the neighbour
    radius of the stored per-frame statistics (use the model's). Memory stays bounded by
    one frame and the per-set sums, whatever the size of ``source``.
    """
    from tqdm.auto import tqdm

    source, output = pathlib.Path(source), pathlib.Path(output)
    data_keys = data_keys or DataKeys()
    if not source.is_file():
        raise InputError(f"data file {str(source)!r} does not exist")
    if bec_layout not in BEC_LAYOUTS:
        raise InputError(f"bec_layout must be one of {list(BEC_LAYOUTS)}, got {bec_layout!r}")
    if not (np.isfinite(cutoff) and cutoff > 0):
        raise InputError(f"the cutoff must be a positive number of Å, got {cutoff}")
    if output.exists():
        raise InputError(
            f"{str(output)!r} exists; give a new name (a frame set is never overwritten in "
            "place, so that a run reading it is not disturbed)"
        )
    check_output(output, "data", inputs=[source])  # a writable location, before any work
    work = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    columns: Dict[str, _Column] = {}

    def column(name: str, dtype: str, row: Tuple[int, ...]) -> _Column:
        if name not in columns:
            columns[name] = _Column(work, name, dtype, row)
        return columns[name]

    try:
        manifest = _write_frames(source, cutoff, data_keys, bec_layout, column, progress, tqdm)
        absent = [n for n in TARGETS if n not in manifest["labels"]]
        for name in absent:
            columns.pop(name).discard()
            columns.pop("has_" + name).discard()
        for c in columns.values():
            c.finish()
        manifest["arrays"] = {
            name: {"dtype": c.dtype.str, "shape": [c.rows, *c.row]} for name, c in columns.items()
        }
        write_text(work / MANIFEST, json.dumps(manifest, indent=1))
        work.rename(output)
    except BaseException as exc:
        for c in columns.values():
            c.discard()
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, OSError):  # a full disk, a lost mount: one line naming the output
            raise InputError(
                f"cannot write the frame set {str(output)!r}: {exc.strerror or exc}; nothing "
                "was left there"
            ) from None
        raise
    return manifest


def _write_frames(source, cutoff, data_keys, bec_layout, column, progress, tqdm) -> Dict:
    """Stream the frames of ``source`` into the columns; the manifest without its arrays."""
    layout_check = BecLayoutCheck()
    names: set = set()
    numbers_seen: set = set()
    frames = atoms_total = 0
    has_any = {name: False for name in TARGETS}
    column("atom_offset", "int64", ()).append([0])
    bar = tqdm(desc=f"preprocess {source.name}", unit="frame", disable=not progress)
    for k, atoms in enumerate(_iread(source)):
        where = f"{str(source)!r}, frame {k} (counting from 0)"
        try:
            symbols = sorted(set(atoms.get_chemical_symbols()))
            graph, targets, checkable = frame_graph(
                atoms, symbols, cutoff, data_keys, (), torch.float64, bec_layout
            )
            if int(np.max(atoms.numbers)) > 255 or int(np.min(atoms.numbers)) < 1:
                raise InputError(f"atomic numbers must be 1 to 255, got {atoms.numbers.tolist()}")
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        n = len(atoms)
        if checkable:
            layout_check.add(targets, np.asarray(atoms.positions, dtype=np.float64))
        column("numbers", *ATOM_ARRAYS["numbers"]).append(atoms.numbers)
        column("positions", *ATOM_ARRAYS["positions"]).append(graph[keys.POSITIONS].numpy())
        column("cell", *FRAME_ARRAYS["cell"]).append(graph[keys.CELL].numpy())
        column("pbc", *FRAME_ARRAYS["pbc"]).append(np.asarray(atoms.pbc, dtype=bool))
        column("total_charge", *FRAME_ARRAYS["total_charge"]).append(graph[keys.TOTAL_CHARGE])
        column("external_field", *FRAME_ARRAYS["external_field"]).append(
            graph[keys.EXTERNAL_FIELD].numpy()
        )
        column("source_frame", *FRAME_ARRAYS["source_frame"]).append([k])
        column("pairs", *FRAME_ARRAYS["pairs"]).append([graph[keys.EDGE_INDEX].shape[1]])
        column("closest_pair", *FRAME_ARRAYS["closest_pair"]).append([closest_pair(graph)])
        for name in TARGETS:
            per, row = target_row(name)
            rows = n if per == "atom" else 1
            value = targets.get(name)
            column(name, "float64", row).append(
                value if value is not None else np.zeros((rows,) + row)
            )
            column("has_" + name, "bool", ()).append([value is not None])
            has_any[name] |= value is not None
        frames += 1
        atoms_total += n
        column("atom_offset", "int64", ()).append([atoms_total])
        numbers_seen |= set(int(z) for z in atoms.numbers)
        names |= set(atoms.info) | set(atoms.arrays)
        if atoms.calc is not None:
            names |= set(atoms.calc.results)
        bar.update(1)
    bar.close()
    if frames == 0:
        raise InputError(f"{str(source)!r} has no frames")
    try:
        layout_check.check()
    except InputError as exc:
        raise InputError(f"{str(source)!r}: {exc}") from None
    from ase.data import chemical_symbols

    return {
        "format": FORMAT,
        "version": VERSION,
        "frames": frames,
        "atoms": atoms_total,
        "source": {"name": source.name, "bytes": source.stat().st_size},
        "source_fingerprint": fingerprint(source),
        "keys": {k: list(v) for k, v in dataclasses.asdict(data_keys).items()},
        "bec_layout": bec_layout,
        "cutoff": float(cutoff),
        "elements": [chemical_symbols[z] for z in sorted(numbers_seen)],
        "labels": [name for name in TARGETS if has_any[name]],
        "property_names": sorted(names - {"numbers", "positions"}),
    }
