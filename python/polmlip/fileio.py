"""Files the project reads and writes: atomic writes, file roles and output guards.

* Every file polmlip writes goes through :func:`atomic_write` (or :func:`write_text`,
  :func:`save_figure`): a crash or Ctrl-C never leaves a half-written file.
* :func:`file_role` tells a training checkpoint from an exported model from anything else, so
  that a file given in the wrong role gets a message that says what it is and what to run.
* :func:`check_output` refuses to overwrite a command's own input, or a checkpoint or a model
  with a file of another role, and checks that the output location is writable before the
  command starts; write errors are one InputError naming the path, temporary files never
  outlive a failed write.
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import tempfile
import zipfile
from typing import Any, Callable, Dict, Iterable, Optional

from .errors import InputError
from .keys import METADATA_FILE

#: bytes read from each end of a data file for its fingerprint (big files stay cheap)
FINGERPRINT_BYTES = 1 << 20

#: What each role is, in messages.
ROLE_NAMES = {
    "checkpoint": "a polmlip training checkpoint (polmlip train)",
    "model": "an exported polmlip model (polmlip export)",
    "torchscript": "a TorchScript file",
}

#: What to run to turn a file of one role into another.
ROLE_HINT = {
    ("checkpoint", "model"): "export it first: polmlip export {path} -o model.pt",
    ("model", "checkpoint"): "training resumes from output/checkpoint.pt, not from an exported "
    "model",
}


def atomic_write(path, write: Callable[[str], None]) -> pathlib.Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    The file gets the usual mode (0666 minus the umask), not mkstemp's 0600. On any
    exception the temporary file is removed and an existing ``path`` is left untouched.
    """
    path = pathlib.Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:  # full disk, read-only file system, permissions: one clear line
        raise InputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def atomic_save(path, save: Callable[[Any], None]) -> pathlib.Path:
    """``save(buffer)`` into memory (torch.save, torch.jit.save), then the bytes to ``path``
    atomically: a write error (a full disk) is a Python OSError turned into an InputError,
    never an exception thrown inside libtorch's writer (which aborts the process and leaves
    the temporary file behind)."""
    buffer = io.BytesIO()
    save(buffer)
    data = buffer.getvalue()

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    return atomic_write(path, write)


def write_text(path, text: str) -> pathlib.Path:
    """Write a text file atomically (UTF-8)."""

    def write(tmp: str) -> None:
        pathlib.Path(tmp).write_text(text, encoding="utf-8")

    return atomic_write(path, write)


def save_figure(fig: Any, path, dpi: int = 120) -> pathlib.Path:
    """Save a matplotlib figure atomically; the format comes from ``path``'s suffix."""
    fmt = pathlib.Path(path).suffix.lstrip(".") or "png"
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt))


def file_role(path) -> Optional[str]:
    """``"model"``, ``"checkpoint"``, ``"torchscript"`` (another TorchScript file) or None.

    Exported models are TorchScript archives with polmlip metadata; checkpoints are
    ``torch.save`` archives (no ``code/`` folder) that hold a training state.
    """
    path = pathlib.Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any(n.split("/", 1)[-1].startswith("code/") for n in names):
        if any(n.endswith("extra/" + METADATA_FILE) for n in names):
            return "model"
        return "torchscript"
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return "checkpoint"
    return None


def wrong_role_message(path, role: Optional[str], wanted: str) -> Optional[str]:
    """A message for a file of ``role`` given where a ``wanted`` one belongs, or None."""
    if role == wanted or role not in ("checkpoint", "model"):
        return None
    hint = ROLE_HINT.get((role, wanted), "")
    text = f"{str(path)!r} is {ROLE_NAMES[role]}, not {ROLE_NAMES[wanted]}"
    return text + ("; " + hint.format(path=path) if hint else "")


def check_role(path, wanted: str) -> None:
    """Raise InputError if ``path`` is a checkpoint or a model where ``wanted`` belongs."""
    wrong = wrong_role_message(path, file_role(path), wanted)
    if wrong:
        raise InputError(wrong)


def check_output(path, writes: str, inputs: Iterable = (), folder: bool = False) -> pathlib.Path:
    """Refuse an output that would destroy something the user did not ask to replace.

    Args:
        path: where the command will write. writes: the role of what it writes
            (``"model"``, ``"checkpoint"``, ``"data"``, ``"results"``...).
        inputs: the command's input files; the output may not be any of them.
        folder: the output is a folder (it must not be an existing file).

    Raises InputError if ``path`` is one of ``inputs``, is a checkpoint or an exported model
    and ``writes`` is another role, or is a file where a folder is wanted (or the reverse).
    """
    path = pathlib.Path(path)
    _check_writable(path if folder else path.parent, path)
    for item in inputs:
        if item is not None and path.exists() and pathlib.Path(item).exists():
            if os.path.samefile(path, item):
                raise InputError(
                    f"the output {str(path)!r} is also the input; choose another output file"
                )
    if folder:
        if path.exists() and not path.is_dir():
            raise InputError(f"the output folder {str(path)!r} is an existing file")
        return path
    if path.is_dir():
        raise InputError(f"the output {str(path)!r} is a folder; give a file name")
    role = file_role(path)
    if role in ("checkpoint", "model") and role != writes:
        raise InputError(
            f"refusing to overwrite {str(path)!r}, which is {ROLE_NAMES[role]}, with "
            f"{writes if writes not in ROLE_NAMES else ROLE_NAMES[writes]}; choose another "
            "output file"
        )
    return path


def _check_writable(folder: pathlib.Path, output: pathlib.Path) -> None:
    """Create ``folder`` if needed and write (and remove) a probe file in it: a read-only
    location or a missing permission is found before a command starts its work."""
    if folder.exists() and not folder.is_dir():
        return  # check_output explains a file where a folder is wanted
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".polmlip-probe."):
            pass
    except OSError as exc:
        raise InputError(
            f"cannot write the output {str(output)!r}: {exc.strerror or exc} "
            f"({str(folder)!r}); choose a writable location"
        ) from None


def read_checkpoint(path) -> Dict[str, Any]:
    """Load a training checkpoint (on the CPU); a clear InputError for anything else."""
    import torch

    path = pathlib.Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {str(path)!r} does not exist")
    check_role(path, "checkpoint")
    try:
        state = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as exc:  # torch.load raises pickle, zip, OS and runtime errors
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"{str(path)!r} is not a readable polmlip checkpoint (truncated or damaged?): {first}"
        ) from None
    needed = ("config", "model", "optimizer", "ema", "epoch")
    if not isinstance(state, dict) or any(k not in state for k in needed):
        raise InputError(f"{str(path)!r} is a torch file but not a polmlip training checkpoint")
    return state


def fingerprint(path: pathlib.Path) -> str:
    """sha256 of a file's size and its first and last FINGERPRINT_BYTES bytes."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(FINGERPRINT_BYTES))
        if size > FINGERPRINT_BYTES:
            f.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
            digest.update(f.read())
    return digest.hexdigest()[:16]
