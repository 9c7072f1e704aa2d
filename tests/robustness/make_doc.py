"""Write docs/errors.md from the robustness table: every row run, with the message it gives.

Run from the repository root:  python -m tests.robustness.make_doc
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from robustness.cases import rows  # noqa: E402
from robustness.runners import run_case  # noqa: E402
from robustness.workspace import copy_workspace, make_workspace  # noqa: E402

ROUTES = {
    "cli": "Command line (`polmlip ...`, exit code 2)",
    "python": "Python: the ASE calculator and the API (`polmlip.errors.InputError`)",
    "openmm": "OpenMM (`PolMLIPForce`: `OpenMMException` or `InputError`)",
    "lammps": "LAMMPS (`pair_style polmlip`: a LAMMPS `ERROR`, non-zero exit)",
}

HEADER = """# Errors you may see

Every message below was produced by running the input on the left through its route. The
table is the robustness suite (`tests/robustness/cases.py`); each row also checks that no
traceback, NaN or crash happens and that no file changed that the command did not own.
This page is generated from it: `python -m tests.robustness.make_doc`.

A message says what was wrong and, where there is one, what to do. The most common ones:

* **overlap**: two atoms are closer than the model's minimum distance (in the model file:
  half the shortest distance of its training data, at least 0.1 Å). The structure is broken,
  or MD has blown up; check the time step and the starting geometry.
* **field limit**: the applied field is beyond what the model was trained for; raise the
  limit (`field_limit` in ASE and LAMMPS) only after checking the response there.
* **training checkpoint / exported model**: `checkpoint.pt` is for `polmlip train` and
  `polmlip export`; engines, `evaluate`, `ir` and `lo-to` need the exported `model.pt`.
* **trained with other settings**: the output folder holds a checkpoint of another model;
  train into a new folder (`--output`) or `--restart`.
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        workspace = make_workspace(tmp / "workspace")
        results = {}
        for k, (case, ranks) in enumerate(rows()):
            work = copy_workspace(workspace, tmp / f"case{k}")
            try:
                message = run_case(case, work, ranks)
            except Exception as exc:  # a failing row is reported, not hidden
                message = f"(row failed: {type(exc).__name__}: {str(exc).splitlines()[0]})"
            message = message.replace(str(tmp), "$TMPDIR")  # no path of this run in the page
            results.setdefault(case.route, []).append((case, ranks, message))
            print(f"{case.id} [{ranks}]: {message}", flush=True)
    lines = [HEADER]
    for route, title in ROUTES.items():
        lines += [f"\n## {title}\n", "| row | input | message |", "|---|---|---|"]
        for case, ranks, message in results.get(route, []):
            where = f" ({ranks} rank{'s' if ranks > 1 else ''})" if route == "lammps" else ""
            text = message.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{case.id}`{where} | {case.what} | {text} |")
    (ROOT / "docs" / "errors.md").write_text("\n".join(lines) + "\n")
    print(f"wrote docs/errors.md ({sum(len(v) for v in results.values())} rows)")


if __name__ == "__main__":
    main()
