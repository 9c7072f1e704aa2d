"""Choosing the torch device: one check of the name and of its availability for every route
(training config, ASE calculator, ``polmlip ir``/``lo-to --device``, model loading)."""

from __future__ import annotations

import re

import torch

from .errors import InputError

#: What a device setting may be, in words.
DEVICE_HELP = "'cpu', 'cuda' or 'cuda:N'"

_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def is_device_name(name: object) -> bool:
    """True for ``"cpu"``, ``"cuda"`` and ``"cuda:N"``."""
    return isinstance(name, str) and bool(_DEVICE_RE.match(name))


def resolve_device(name: object, what: str = "device") -> torch.device:
    """The torch device called ``name``; a clear InputError if it is malformed or absent.

    Args:
        name: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        what: the setting's name in messages (``"training.device"``, ``"--device"``).
    """
    if not is_device_name(name):
        raise InputError(f"{what} must be {DEVICE_HELP}, got {name!r}")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "built without CUDA" if torch.version.cuda is None else "finds no GPU"
            raise InputError(
                f"{what} is {name!r} but CUDA is not available (this torch {torch.__version__} "
                f"{build}); use 'cpu'"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(
                f"{what} is {name!r} but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    return device
