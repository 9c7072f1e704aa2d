"""Every row of the robustness table (:mod:`.cases`) gets a clear error through its route,
and changes no file (see :mod:`.runners` for the contract); docs/errors.md lists every row."""

import pathlib

import pytest
import torch

from .cases import CASES, rows
from .runners import run_case
from .workspace import copy_workspace

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def _missing(needs: str):
    if needs == "no-cuda" and torch.cuda.is_available():
        return "CUDA is available here"
    if needs == "openmm":
        try:
            import openmm  # noqa: F401
        except ImportError:
            return "OpenMM is not installed"
        from openmm_helpers import openmm_plugin_built

        if not openmm_plugin_built():
            return "OpenMM plugin not built"
    if needs == "lammps":
        import sys

        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "engines"))
        from lammps_helpers import lammps_available

        if not lammps_available():
            return "LAMMPS plugin not built"
    return None


@pytest.mark.parametrize(
    "case,ranks",
    rows(),
    ids=[f"{c.id}-{r}rank" if c.route == "lammps" else c.id for c, r in rows()],
)
def test_bad_input_gets_a_clear_error(case, ranks, workspace, tmp_path):
    reason = _missing(case.needs)
    if reason:
        pytest.skip(reason)
    work = copy_workspace(workspace, tmp_path / "work")
    run_case(case, work, ranks)


def test_the_table_is_large_and_unique():
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids)
    assert len(rows()) >= 60
    routes = {c.route for c in CASES}
    assert routes == {"cli", "python", "openmm", "lammps"}


def test_errors_page_lists_every_row():
    """docs/errors.md is generated from the table (python -m tests.robustness.make_doc)."""
    text = DOC.read_text()
    missing = [c.id for c in CASES if f"`{c.id}`" not in text]
    assert not missing, f"regenerate docs/errors.md: rows {missing} are not in it"
