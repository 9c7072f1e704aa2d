"""How one robustness case is run through its route, and what every route must show.

Each runner returns the error message the user sees, after checking the common contract:

* CLI: exit code 2, a one-line ``error:`` message, no traceback;
* Python (ASE calculator, API): a :class:`polmlip.errors.InputError`, never a raw exception;
* OpenMM: an ``OpenMMException`` (or InputError from the Python wrapper), never a NaN;
* LAMMPS (1 and 2 ranks): a LAMMPS ``ERROR`` and a non-zero exit, no signal, no NaN;

and, for all routes, that no file in the workspace changed (LAMMPS' own log excepted).
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import subprocess
import sys

from polmlip.errors import InputError

from .workspace import snapshot

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "engines"))

LAMMPS_OUTPUTS = ("log.lammps", "forces.dump", "in.lmp", "data.lmp")


class Accepted(AssertionError):
    """The bad input went through without an error."""


def _unchanged(work: pathlib.Path, before: dict, ignore=()) -> None:
    after = snapshot(work, ignore)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"files changed by a refused input: {changed}"


def run_cli(case, work: pathlib.Path) -> str:
    from polmlip.cli.main import main

    if case.setup:
        case.setup(work)
    before = snapshot(work)
    if case.subprocess:
        proc = subprocess.run(
            [sys.executable, "-m", "polmlip.cli.main", *case.action],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
        )
        rc, err = proc.returncode, proc.stderr
    else:
        stderr = io.StringIO()
        with contextlib.chdir(work), contextlib.redirect_stderr(stderr):
            try:
                rc = main(list(case.action))
            except SystemExit as exc:  # argparse usage errors
                rc = exc.code
        err = stderr.getvalue()
    if rc == 0:
        raise Accepted(f"polmlip {' '.join(case.action)} exited 0")
    assert rc == 2, f"exit code {rc}, expected 2:\n{err[-2000:]}"
    assert "Traceback" not in err, err[-2000:]
    lines = [line for line in err.splitlines() if "error:" in line]
    assert lines, f"no 'error:' line in\n{err[-2000:]}"
    _unchanged(work, before)
    return lines[-1]


def _run_raising(case, work: pathlib.Path, errors: tuple) -> str:
    """Run ``case.action(work)``; it must raise one of ``errors`` and change no file."""
    if case.setup:
        case.setup(work)
    before = snapshot(work)
    with contextlib.chdir(work):
        try:
            result = case.action(work)
        except errors as exc:
            message = str(exc)
        else:
            raise Accepted(f"accepted, returned {result!r}")
    _unchanged(work, before)
    return message


def run_python(case, work: pathlib.Path) -> str:
    return _run_raising(case, work, (InputError,))


def run_openmm(case, work: pathlib.Path) -> str:
    import openmm

    return _run_raising(case, work, (openmm.OpenMMException, InputError))


def run_lammps(case, work: pathlib.Path, ranks: int) -> str:
    from lammps_helpers import run_lammps as run
    from lammps_helpers import write_inputs

    spec = dict(case.action)
    atoms = spec.pop("atoms")()
    model = spec.pop("model", "run/model.pt")
    elements = spec.pop("elements", ["H", "O"])
    write_inputs(work, atoms, model, elements, **spec)
    if case.setup:
        case.setup(work)
    before = snapshot(work, ignore=LAMMPS_OUTPUTS)
    proc = run(work, ranks, timeout=600)
    out = proc.stdout + proc.stderr
    if proc.returncode == 0:
        raise Accepted("LAMMPS ran to the end")
    assert proc.returncode > 0, f"LAMMPS died by signal {-proc.returncode}:\n{out[-2000:]}"
    assert not re.search(r"^\s*0\s+nan", proc.stdout, re.M | re.I), "NaN thermo output"
    errors = [line for line in out.splitlines() if "ERROR" in line]
    assert errors, f"no LAMMPS ERROR line:\n{out[-2000:]}"
    _unchanged(work, before, ignore=LAMMPS_OUTPUTS)
    return re.sub(r"\s*\([^()]*\.cpp:\d+\)\s*$", "", errors[0])


def run_case(case, work: pathlib.Path, ranks: int = 1) -> str:
    """Run ``case`` in ``work``; the message, after the route's contract is checked."""
    runner = {"cli": run_cli, "python": run_python, "openmm": run_openmm}
    if case.route == "lammps":
        message = run_lammps(case, work, ranks)
    else:
        message = runner[case.route](case, work)
    assert re.search(case.match, message, re.S), f"message does not say {case.match!r}:\n{message}"
    return message
