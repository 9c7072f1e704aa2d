"""``polmlip`` command line: make data, train, evaluate, export, and derived observables.

Run ``polmlip COMMAND --help`` for each command's options.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import List, Optional

from ..errors import InputError, PolmlipError
from ..fileio import check_output, file_role, read_checkpoint, write_text
from ..keys import BEC_LAYOUTS
from . import datagen, import_mace, ir, lo_to, preprocess, raman
from .args import finite_floats, positive_int

EPILOG = """examples:
  polmlip datagen water-clusters -n 200 -o train.xyz  # GFN2-xTB reference data
  polmlip preprocess big.xyz -o big.frames      # on-disk frame set for large data
  polmlip train examples/train_water.yaml        # train, writes runs/<name>/{model.pt,*.png}
  polmlip import-mace my.model body.npz --mace-python ~/mace-env/bin/python  # MACE body
  polmlip evaluate runs/water/model.pt data.xyz  # MAE/RMSE table + parity plots
  polmlip export runs/water/checkpoint.pt -o model.pt
  polmlip export model.pt --torchforce --structure water.pdb -o water_torchforce.pt
  polmlip ir traj.xyz --timestep 1.0 --model model.pt  # IR spectrum (.dat + .png)
  polmlip raman traj.xyz --timestep 1.0 --model model.pt  # Raman spectra (.dat + .png)
  polmlip lo-to model.pt nacl.xyz --supercell 2 2 2   # LO-TO splitting at Gamma (+ band PNG)
"""


#: the network's precision in the files ``polmlip export`` and ``polmlip train`` write
DEFAULT_NETWORK_DTYPE = "float32"


def _train(args: argparse.Namespace) -> int:
    from ..export.io import export_model
    from ..train import plots
    from ..train.config import load_config
    from ..train.evaluate import collect, format_table, metrics_table, parity_plots
    from ..train.trainer import Trainer

    run = load_config(args.config)
    if args.output:
        run.training.output = args.output
    if args.epochs is not None:
        run.training.epochs = args.epochs
    trainer = Trainer(run, progress=not args.quiet)
    if not args.restart and trainer.resume_if_possible() and trainer.writes:
        print(f"resuming from epoch {trainer.epoch} in {trainer.out}", flush=True)
    summary = trainer.train()
    if not trainer.writes:  # a data-parallel run: the first process writes the results
        trainer.close()
        return 0
    trainer.write_history()
    model = trainer.best_model().eval()
    out = trainer.out
    plots.learning_curve(trainer.history, out / "learning_curve.png")
    pairs = collect(model, trainer.val_set)
    rows = metrics_table(pairs)
    parity_plots(pairs, out)
    # engines run the network in float32, geometry and long range in float64 (mixed)
    export_model(model, out / "model.pt", network_dtype=DEFAULT_NETWORK_DTYPE)
    write_text(out / "metrics.json", json.dumps({"summary": summary, "validation": rows}, indent=1))
    print("validation (best EMA weights):\n" + format_table(rows))
    print(f"wrote {out / 'model.pt'}, {out / 'learning_curve.png'}, parity_*.png, metrics.json")
    trainer.close()
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from ..data.dataset import DataKeys, build_dataset, read_frames
    from ..data.store import FrameStore, StoredGraphs, is_frame_store
    from ..export.adapter import ExportedAsModel
    from ..export.io import load_exported
    from ..train.evaluate import collect, format_table, metrics_table, parity_plots

    outdir = check_output(args.output, "results", inputs=[args.model, args.data], folder=True)
    keys_cfg = DataKeys.from_dict(_json_mapping(args.keys, "--keys")) if args.keys else DataKeys()
    module, meta = load_exported(args.model)
    dtype = getattr(torch, meta["dtype"])
    if is_frame_store(args.data):
        store = FrameStore(args.data)
        given = _json_mapping(args.keys, "--keys") if args.keys else {}
        layout = args.bec_layout if args.bec_layout != BEC_LAYOUTS[0] else None
        store.check_read_settings(given, layout, "--keys and --bec-layout")
        indices = range(store.frames)
        graphs = StoredGraphs(store, indices, meta["elements"], meta["cutoff"], dtype)
    else:
        graphs = build_dataset(
            read_frames(args.data),
            meta["elements"],
            meta["cutoff"],
            keys_cfg,
            ("energy",),
            dtype,
            args.bec_layout,
            source=repr(str(args.data)),
        )
    pairs = collect(ExportedAsModel(module), graphs)
    rows = metrics_table(pairs)
    print(format_table(rows))
    paths = parity_plots(pairs, outdir)
    write_text(outdir / "metrics.json", json.dumps(rows, indent=1))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _json_mapping(text: str, option: str) -> dict:
    """A JSON object given on the command line; InputError if it is not one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{option} is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise InputError(f'{option} must be a JSON object like \'{{"forces": "force"}}\'')
    return value


def _export(args: argparse.Namespace) -> int:
    import tempfile

    path = pathlib.Path(args.checkpoint)
    if not path.is_file():
        raise PolmlipError(f"{str(path)!r} does not exist")
    check_output(args.output, "model", inputs=[path, args.structure])
    if args.torchforce and not args.structure:
        raise PolmlipError("--torchforce needs --structure FILE (the particle order)")
    if args.structure and not args.torchforce:
        raise PolmlipError("--structure is only used with --torchforce")
    role = file_role(path)
    if role not in ("checkpoint", "model"):
        raise PolmlipError(
            f"{str(path)!r} is neither a training checkpoint nor an exported polmlip model"
        )
    engine_file = path if role == "model" else None
    if not args.torchforce:
        if engine_file is not None:
            raise PolmlipError(
                f"{str(path)!r} is already an exported model; export a checkpoint, or add "
                "--torchforce --structure FILE to write the TorchForce convention"
            )
        meta = _export_checkpoint(path, args.output, not args.no_compress, args.network_dtype)
        print(
            f"wrote {args.output}: elements {meta['elements']}, cutoff {meta['cutoff']} Å, "
            f"network {meta['network_dtype']}, geometry and long range {meta['dtype']}"
        )
        return 0
    import ase.io

    from ..export.torchforce import export_torchforce

    try:
        atoms = ase.io.read(args.structure)
    except Exception as exc:  # ASE raises many types for unreadable files
        raise PolmlipError(f"cannot read structure {args.structure!r}: {exc}") from None
    periodic = bool(atoms.pbc.all())
    with tempfile.TemporaryDirectory() as tmp:
        if engine_file is None:
            engine_file = pathlib.Path(tmp) / "engine.pt"
            _export_checkpoint(path, engine_file, not args.no_compress, args.network_dtype)
        meta = export_torchforce(
            engine_file, atoms.get_chemical_symbols(), args.output, periodic, args.total_charge
        )
    print(f"wrote {args.output}: TorchForce convention, {meta['num_particles']} particles")
    print(f"  {meta['signature']}")
    return 0


def _export_checkpoint(
    path: pathlib.Path, output, compress: bool = True, network_dtype: str = "float32"
) -> dict:
    import torch

    from ..export.io import export_model
    from ..model.config import ModelConfig
    from ..model.polmlip import PolMLIP

    state = read_checkpoint(path)
    cfg = ModelConfig.from_dict(state["config"]["model"])
    weights = state["best_state"] or state["ema"]
    dtype = getattr(torch, state["config"]["training"]["dtype"])
    model = PolMLIP(cfg).to(dtype)
    model.load_state_dict(weights)
    return export_model(model, output, compress=compress, network_dtype=network_dtype)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="polmlip",
        description="Polarizable long-range machine-learned interatomic potentials: make "
        "GFN2-xTB reference data, train from extxyz data, evaluate, export one TorchScript file "
        "for ASE, LAMMPS and OpenMM, and compute IR and Raman spectra and LO-TO splittings.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    datagen.add_parser(sub)
    preprocess.add_parser(sub)
    import_mace.add_parser(sub)
    t = sub.add_parser(
        "train",
        help="train a model from a YAML config",
        description="Train a model. Writes checkpoint.pt (resumed automatically), "
        "model.pt (exported best EMA weights), learning_curve.png, parity plots "
        "and metrics.json into training.output.",
    )
    t.add_argument("config", help="YAML file with model, data and training sections")
    t.add_argument("--output", help="override training.output")
    t.add_argument("--epochs", type=positive_int, help="override training.epochs")
    t.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)
    e = sub.add_parser(
        "evaluate",
        help="error table and parity plots of a model on data",
        description="Evaluate an exported model on an extxyz file or a frame set (polmlip "
        "preprocess): MAE/RMSE of every property present (energy per atom, forces, stress, "
        "dipole, BEC, polarizability).",
    )
    e.add_argument("model", help="exported model file (polmlip export / train output)")
    e.add_argument("data", help="extxyz file, or a frame set written by polmlip preprocess")
    e.add_argument("--output", default="evaluation", help="folder for plots (default: %(default)s)")
    e.add_argument("--keys", help='JSON mapping of property names, e.g. \'{"forces": "force"}\'')
    e.add_argument(
        "--bec-layout",
        choices=BEC_LAYOUTS,
        default=BEC_LAYOUTS[0],
        help="order of the 9 Born-charge numbers in the file: polarization-major "
        "(dP_beta/dr_gamma at 3*beta+gamma, polmlip's) or displacement-major (the transpose); "
        "default %(default)s, checked against the rotation sum rule",
    )
    e.set_defaults(func=_evaluate)
    x = sub.add_parser(
        "export",
        help="export a checkpoint to a TorchScript model file",
        description="Export the best EMA weights of a training checkpoint to "
        "one TorchScript file with metadata, readable by every engine (ASE, LAMMPS, OpenMM). "
        "With --torchforce, write a file in openmm-torch's TorchForce convention.",
    )
    x.add_argument(
        "checkpoint",
        help="checkpoint.pt written by polmlip train (or, with --torchforce, an exported model)",
    )
    x.add_argument("-o", "--output", required=True, help="model file to write")
    x.add_argument(
        "--torchforce",
        action="store_true",
        help="write openmm-torch's TorchForce convention instead: forward(positions nm, "
        "boxvectors nm, polmlip_Ex, polmlip_Ey, polmlip_Ez) -> energy kJ/mol, for the particle "
        "order of --structure (no box argument when the structure is not periodic)",
    )
    x.add_argument(
        "--structure", help="with --torchforce: structure file (PDB, extxyz...) of the system"
    )
    x.add_argument(
        "--total-charge", type=float, default=0.0, help="with --torchforce: total charge (e)"
    )
    x.add_argument(
        "--network-dtype",
        choices=["float32", "float64"],
        default=DEFAULT_NETWORK_DTYPE,
        help="precision of the network (body and heads); positions, cell, long range and sums "
        "stay float64. float32 (default) is ~1.4x faster, forces within ~1e-6 relative RMS of "
        "float64 (docs/benchmarks.md)",
    )
    x.add_argument(
        "--no-compress",
        action="store_true",
        help="do not tabulate the radial networks (by default each layer's radial network is "
        "also stored as a quintic table of the edge length, measured to 1e-6 relative, which "
        "engines read instead; forces change by ~1e-8 relative)",
    )
    x.set_defaults(func=_export)
    ir.add_parser(sub)
    raman.add_parser(sub)
    lo_to.add_parser(sub)
    return finite_floats(p)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except PolmlipError as exc:
        print(f"polmlip {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
