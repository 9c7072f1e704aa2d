"""``polmlip import-mace``: a mace-torch model's body as a file polmlip trains from.

Registered on the ``polmlip`` subcommands with :func:`add_parser`
(``polmlip import-mace --help``); the conversion is described in
:mod:`polmlip.model.mace_body`.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess

from ..errors import InputError
from ..fileio import check_output

DESCRIPTION = """\
Write the body of a mace-torch model (species embedding, radial basis, interactions and
product bases) to OUTPUT, a NumPy archive that a training config names as model.mace_body:
training then starts from those weights under polmlip's multipole, response and field
head, and the body's settings (channels, max_ell, layers, correlation, cutoff, radial MLP,
envelope) are taken from it.

mace-torch pins e3nn 0.4.4, which polmlip's environment does not take, so the model is read
by the Python of the environment that has mace-torch (--mace-python), running
polmlip/model/mace_dump.py (it imports nothing from polmlip); this environment then checks
the file. Supported: mace-torch's MACE and ScaleShiftMACE models with the real agnostic
(residual) interaction blocks, Bessel radial basis and polar irreps; anything else is
refused with the reason.
"""

EPILOG = """\
examples:
  polmlip import-mace my.model mace_body.npz --mace-python ~/mace-env/bin/python
  then in the training config:  model: {elements: [H, O], mace_body: mace_body.npz}
"""

#: the dump script, run by the other environment's Python
DUMP_SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "model" / "mace_dump.py"


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``import-mace`` subcommand to an ``argparse`` subparsers object."""
    p = sub.add_parser(
        "import-mace",
        help="a mace-torch model's body as a file to train from (model.mace_body)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="mace-torch model file (.model, as mace_run_train writes)")
    p.add_argument("output", help="body file to write (.npz)")
    p.add_argument(
        "--mace-python",
        required=True,
        help="the Python executable of an environment with mace-torch installed",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..model.mace_body import mace_settings, read_mace_body

    model = pathlib.Path(args.model)
    if not model.is_file():
        raise InputError(f"{args.model!r} does not exist")
    output = pathlib.Path(args.output)
    if output.suffix != ".npz":
        raise InputError(f"the output {args.output!r} must end in .npz (NumPy writes it so)")
    check_output(output, "data", inputs=[model])
    try:
        done = subprocess.run(
            [args.mace_python, str(DUMP_SCRIPT), str(model), str(output)],
            capture_output=True,
            text=True,
            env={**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"},
        )
    except OSError as err:
        raise InputError(f"cannot run --mace-python {args.mace_python!r}: {err}") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("mace_dump:")]
        reason = lines[-1] if lines else done.stderr.strip().splitlines()[-1:]
        raise InputError(f"reading {args.model!r} with {args.mace_python!r} failed: {reason}")
    body = read_mace_body(output)
    settings = ", ".join(f"{k} {v}" for k, v in mace_settings(body).items())
    print(done.stdout.strip())
    print(f"polmlip import-mace: {output} is ready for model.mace_body ({settings})")
    return 0
