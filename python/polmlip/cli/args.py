"""Argument types shared by the ``polmlip`` subcommands.

Every float option of every subcommand takes only finite numbers (:func:`finite_floats`
replaces argparse's ``float`` throughout), so ``nan`` or ``inf`` is a usage error (exit 2) and
never reaches a calculation.
"""

from __future__ import annotations

import argparse
import math


def finite_float(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {text!r}")
    return value


def finite_floats(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make every ``type=float`` option of ``parser`` and its subcommands finite-only."""
    for action in parser._actions:
        if action.type is float:
            action.type = finite_float
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                finite_floats(sub)
    return parser
