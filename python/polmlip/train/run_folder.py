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
import hashlib
import os
import pathlib
import socket
import time
from typing import Any, Dict, List, Optional

from ..errors import InputError

LOCK_NAME = ".polmlip-train.lock"
#: bytes read from each end of a data file for its fingerprint (big files stay cheap)
FINGERPRINT_BYTES = 1 << 20


class FolderLock:
    """An exclusive lock on a training output folder, held until :meth:`release` or the
    process ends."""

    def __init__(self, folder: pathlib.Path) -> None:
        self.path = pathlib.Path(folder) / LOCK_NAME
        self._fd: Optional[int] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            self._fd = None
            raise InputError(
                f"another polmlip train ({holder}) is writing to {str(folder)!r}; wait for it "
                "to finish, or train into another folder (--output DIR)"
            ) from None
        os.ftruncate(self._fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.pwrite(
            self._fd, f"pid {os.getpid()} on {socket.gethostname()}, since {stamp}".encode(), 0
        )

    def release(self) -> None:
        """Remove the lock file and unlock (idempotent)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.release()


def _fingerprint(path: pathlib.Path) -> str:
    """sha256 of a file's size and its first and last FINGERPRINT_BYTES bytes."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(FINGERPRINT_BYTES))
        if size > FINGERPRINT_BYTES:
            f.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
            digest.update(f.read())
    return digest.hexdigest()[:16]


def data_record(files: List[pathlib.Path], frames: Dict[str, int]) -> Dict[str, Any]:
    """What a run trains on: each data file's name, size and fingerprint, and the frame
    counts (``frames``: training and validation)."""
    return {
        "files": [
            {"name": str(f), "bytes": f.stat().st_size, "fingerprint": _fingerprint(f)}
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
