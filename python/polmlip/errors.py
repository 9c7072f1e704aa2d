"""Exceptions raised by polmlip for bad input.

Every user-facing check raises :class:`InputError` with a message that says what
was wrong and what to do. Code compiled with TorchScript cannot raise custom
classes; it raises ``ValueError("polmlip: ...")``, and :func:`reraise_clean`
turns the resulting ``torch.jit.Error`` back into an :class:`InputError`.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

PREFIX = "polmlip: "


class PolmlipError(Exception):
    """Base class of all polmlip errors."""


class InputError(PolmlipError, ValueError):
    """Invalid user input (positions, cell, model file, configuration...)."""


class TrainingDiverged(PolmlipError):
    """A training step gave a non-finite loss or gradient (stopped before it could change
    the weights)."""


def _extract_message(text: str) -> str | None:
    """Find the ``polmlip: ...`` message inside a (TorchScript) error text.

    TorchScript errors quote the failing source, which also contains the
    message template, so the raised message is the last ``...Error: polmlip:``
    line, or the text itself when it starts with the prefix.
    """
    if text.startswith(PREFIX):
        return text[len(PREFIX) :].strip()
    found = None
    for line in text.splitlines():
        idx = line.find("Error: " + PREFIX)
        if idx >= 0:
            found = line[idx + len("Error: ") + len(PREFIX) :].strip()
    return found


@contextlib.contextmanager
def reraise_clean() -> Iterator[None]:
    """Translate polmlip messages raised inside TorchScript into :class:`InputError`."""
    try:
        yield
    except (torch.jit.Error, RuntimeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        msg = _extract_message(str(exc))
        if msg is None:
            raise
        raise InputError(msg) from None
