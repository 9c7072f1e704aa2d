"""The README's main job: reference data → training → evaluation → export → MD under a field.

Run with ``bash scripts/demo.sh`` (sets up .venv/) or ``python examples/demo.py [--quick]``.
"""

import argparse

from polmlip.workflows.demo import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny version, for tests")
    parser.add_argument("--output", default="demo_output")
    args = parser.parse_args()
    run(out=args.output, quick=args.quick)
