"""The training output folder: one writer at a time, and a record of the data trained on.

* :class:`FolderLock`: ``polmlip train`` holds an exclusive lock (``flock``) on
  ``output/.polmlip-train.lock`` while it runs. A second run into the same folder is refused
  with the first one's process id; the lock dies with its process, so a killed run never
  blocks the next one.
* :func:`data_record`: what a checkpoint was trained on (files, sizes, a fingerprint of their
  contents, frame counts), stored in the checkpoint and compared when a run resumes.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import socket
import time
from typing import Any, Dict, List, Optional

from ..data.store import MANIFEST, is_frame_store
from ..errors import InputError
from ..fileio import fingerprint

LOCK_NAME = ".polmlip-train.lock"


#: locks this process holds: lock file -> [descriptor, number of FolderLock objects]
_HELD: Dict[str, List[int]] = {}


class FolderLock:
    """An exclusive lock on a training output folder against other processes, held until
    :meth:`release` or the process ends. Within one process it is shared: a second Trainer
    on the same folder (resuming in a notebook or a test) takes the same lock."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.path = pathlib.Path(folder) / LOCK_NAME
        self._key: Optional[str] = str(self.path.resolve())
        if self._key in _HELD:
            _HELD[self._key][1] += 1
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            self._key = None
            raise InputError(
                f"another polmlip train ({holder}) is writing to {str(folder)!r}; wait for it "
                "to finish, or train into another folder (--output DIR)"
            ) from None
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {stamp}".encode(), 0)
        _HELD[self._key] = [fd, 1]

    def release(self) -> None:
        """Let go of the lock (idempotent); the last holder in the process removes the lock
        file and unlocks."""
        key, self._key = getattr(self, "_key", None), None
        held = _HELD.get(key) if key is not None else None
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        del _HELD[key]
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(held[0])

    def __del__(self) -> None:
        self.release()


def _record_file(path: pathlib.Path) -> pathlib.Path:
    """The file that stands for data ``path``: itself, or the manifest of a frame set
    (which records its source's fingerprint and its counts)."""
    return path / MANIFEST if is_frame_store(path) else path


def data_record(files: List[pathlib.Path], frames: Dict[str, int]) -> Dict[str, Any]:
    """What a run trains on: each data file's name, size and fingerprint, and the frame
    counts (``frames``: training and validation)."""
    return {
        "files": [
            {
                "name": str(f),
                "bytes": _record_file(f).stat().st_size,
                "fingerprint": fingerprint(_record_file(f)),
            }
            for f in files
        ],
        "frames": dict(frames),
    }


def describe_change(saved: Optional[Dict[str, Any]], now: Dict[str, Any]) -> Optional[str]:
    """One line saying how the data differs from the checkpoint's, or None if it does not
    (or the checkpoint predates the record)."""
    if not saved or saved == now:
        return None

    def text(record: Dict[str, Any]) -> str:
        files = ", ".join(
            f"{f['name']} ({f['bytes']} bytes, {f['fingerprint']})" for f in record["files"]
        )
        frames = ", ".join(f"{k} {v}" for k, v in record["frames"].items())
        return f"{files}; frames: {frames}"

    return f"the checkpoint was trained on {text(saved)}; the data now is {text(now)}"
