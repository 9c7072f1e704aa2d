"""The ablation ladder SR → q → qmu → qmutheta → +iq → +imu on real DFT liquid water.

    python examples/ablation_ladder.py [--rungs SR q +imu] [--epochs 15] [--train-frames 40]
    python examples/ablation_ladder.py --quick       # 2 rungs, 4 frames, 1 epoch (tests)

Data: ``water_rpbe_d3_64.xyz`` (64 H2O, RPBE-D3) from the shared reference data folder
(``../shared/data`` beside the repository, or ``--data``), published with the latent Ewald
summation benchmarks (ChengUCB/les_fit, data-benchmark/); it is read in place, never copied.
Without it the example says so and exits cleanly. Every rung trains the same small network
on energies and forces only and is tested on the last 10 frames; the table shows what each
long-range head adds. ``benchmarks/ablation.py`` runs the full study (also on SPICE).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "water_rpbe_d3_64.xyz"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="water extxyz (64 H2O, RPBE-D3)")
    p.add_argument("--rungs", nargs="+", default=["SR", "q", "qmu", "qmutheta", "+iq", "+imu"])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--train-frames", type=int, default=40)
    p.add_argument("--quick", action="store_true", help="2 rungs, 4 frames, 1 epoch")
    p.add_argument("--output", default="ablation_output")
    args = p.parse_args(argv)
    data = pathlib.Path(args.data)
    if not data.is_file():
        print(f"skipped: {data} is absent (the shared DFT reference data is needed)")
        return 0

    import ase.io

    from polmlip.data.dataset import read_frames
    from polmlip.workflows.ablation import train_rung

    if args.quick:
        args.rungs, args.epochs, args.train_frames = ["SR", "q"], 1, 4
    frames = read_frames(data)
    out = pathlib.Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    ase.io.write(out / "train.xyz", frames[: args.train_frames], format="extxyz")
    test = frames[-2:] if args.quick else frames[-10:]
    print(f"{'rung':>9} | {'E MAE [meV/atom]':>16} | {'F MAE [meV/Å]':>13} | {'min':>5}")
    for rung in args.rungs:
        r = train_rung(rung, out / "train.xyz", test, ["H", "O"], args.epochs, out, progress=True)
        print(f"{rung:>9} | {r['E']:16.2f} | {r['F']:13.1f} | {r['minutes']:5.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
