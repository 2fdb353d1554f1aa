"""The ``skdistill`` command (thin: it calls the public API only)."""

import argparse
import sys

DESCRIPTION = """\
skdistill: scikit-learn estimators for spike -> LFP cross-modal distillation and the BaRISTA
iEEG transformer.

Commands:
  demo   simulate three reaching sessions, train the spike teacher, single- and multi-session
         LFP models and the distilled LFP student (a CPU-sized model, a few minutes), and print
         the velocity-decoding comparison (R² of per-session linear probes) with its floors.
"""

EPILOG = """\
examples:
  skdistill demo                      # tables printed, figure in ./demo_output/
  skdistill demo --output-dir out --seed 1

In Python: from skdistill import MaskedSpikeTransformer, DistilledLFPTransformer, ...;
probes and floors are in skdistill.evaluation. Documentation: docs/index.md.
"""


def build_parser():
    """The ``skdistill`` argument parser."""
    from skdistill import __version__

    parser = argparse.ArgumentParser(prog="skdistill", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"skdistill {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    demo = sub.add_parser(
        "demo", help="simulate reaching sessions and print the decoding comparison",
        description="Simulate three reaching sessions, train the teacher, SS-LFP, MS-LFP and the "
                    "distilled student on the train segments, and print velocity R² of "
                    "per-session linear probes (with ridge floors and the generalization table).")
    demo.add_argument("--output-dir", default="demo_output",
                      help="where the figure and tables go (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0,
                      help="simulation and training seed (default: %(default)s)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from skdistill._demo import run_demo

        run_demo(output_dir=args.output_dir, random_state=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
