"""``polmlip preprocess``: an extxyz file as an on-disk frame set that training reads lazily.

Registered on the ``polmlip`` subcommands with :func:`add_parser`
(``polmlip preprocess --help``); the format is described in :mod:`polmlip.data.store`.
"""

from __future__ import annotations

import argparse
import pathlib

from ..errors import InputError
from ..keys import BEC_LAYOUTS

DESCRIPTION = """\
Read DATA (extxyz, or any file ASE reads) once, frame by frame, check every frame as
training does, and write the folder OUTPUT: one NumPy .npy array per quantity (positions,
cells, labels, per-frame masks) and manifest.json. Training (data.train / data.validation:
OUTPUT) and polmlip evaluate then read frames from it lazily, memory-mapped: memory stays
bounded whatever the number of frames, and the processes of a data-parallel run share the
pages. Property names (--keys) and the Born-charge layout (--bec-layout) apply here, once;
the neighbour statistics are stored for --cutoff (take the model's; another cutoff is
handled by recomputing them when training starts).
"""

EPILOG = """\
examples:
  polmlip preprocess train.xyz -o train.frames --cutoff 5.0
  polmlip preprocess spice.xyz -o spice.frames --config examples/train_spice_bec.yaml
  then in the training config:  data: {train: train.frames}
"""


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``preprocess`` subcommand to an ``argparse`` subparsers object."""
    p = sub.add_parser(
        "preprocess",
        help="write a data file as an on-disk frame set for large data (lazy, bounded memory)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", help="extxyz file (or any file ASE reads)")
    p.add_argument("-o", "--output", required=True, help="folder to write (must not exist)")
    p.add_argument(
        "--config",
        help="training config: take model.cutoff, data.keys and data.bec_layout from it",
    )
    p.add_argument(
        "--cutoff", type=float, help="neighbour radius of the stored statistics, Å (default 4.5)"
    )
    p.add_argument("--keys", help='JSON mapping of property names, e.g. \'{"forces": "force"}\'')
    p.add_argument(
        "--bec-layout",
        choices=BEC_LAYOUTS,
        help="order of the 9 Born-charge numbers in the file (default polarization-major)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..data.dataset import DataKeys
    from ..data.preprocess import preprocess
    from ..model.config import ModelConfig
    from .main import _json_mapping

    cutoff, keys, layout = ModelConfig.__dataclass_fields__["cutoff"].default, {}, BEC_LAYOUTS[0]
    if args.config:
        from ..train.config import load_config

        run_config = load_config(args.config)
        cutoff, keys, layout = (
            run_config.model.cutoff,
            run_config.data.keys,
            run_config.data.bec_layout,
        )
    if args.cutoff is not None:
        cutoff = args.cutoff
    if args.keys:
        keys = _json_mapping(args.keys, "--keys")
    if args.bec_layout:
        layout = args.bec_layout
    output = pathlib.Path(args.output)
    if pathlib.Path(args.data).resolve() == output.resolve():
        raise InputError("the output is the input; choose another output folder")
    manifest = preprocess(
        args.data, output, cutoff, DataKeys.from_dict(keys), layout, progress=not args.quiet
    )
    size = sum(f.stat().st_size for f in output.iterdir())
    print(
        f"wrote {output}: {manifest['frames']} frames, {manifest['atoms']} atoms, "
        f"{size / 1e6:.1f} MB; labels {manifest['labels']}; elements {manifest['elements']}; "
        f"neighbour statistics at {manifest['cutoff']:g} Å"
    )
    print(f"train from it with   data: {{train: {output}}}   in the training config")
    return 0
