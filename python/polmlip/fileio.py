"""Writing files atomically: a crash or Ctrl-C never leaves a half-written file."""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Callable


def atomic_write(path, write: Callable[[str], None]) -> pathlib.Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    The file gets the usual mode (0666 minus the umask), not mkstemp's 0600. On any
    exception the temporary file is removed and an existing ``path`` is left untouched.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
