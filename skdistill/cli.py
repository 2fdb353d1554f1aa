"""The ``skdistill`` command (thin: it calls the public API only)."""

import argparse
import sys

DESCRIPTION = """\
skdistill: scikit-learn estimators for spike -> LFP cross-modal distillation and the BaRISTA
iEEG transformer.

Commands:
  demo   simulate three reaching sessions, train the spike teacher, single- and multi-session
         LFP models and the distilled LFP student (a CPU-sized model, a few minutes), and print
         the velocity-decoding comparison (R² of per-session linear probes) with its floors
         and null controls.
"""

EPILOG = """\
examples:
  skdistill demo                      # tables printed, figure in ./demo_output/
  skdistill demo --output-dir out --seed 1
  skdistill demo --seeds 0 1 2        # mean ± sd over three seeds (three times as long)
  skdistill demo --quick              # a seconds-long smoke run (numbers mean nothing)

In Python: from skdistill import MaskedSpikeTransformer, DistilledLFPTransformer, ...;
probes and floors are in skdistill.evaluation. Documentation: docs/index.md.
"""

DEMO_DESCRIPTION = """\
Simulate three 120 s reaching sessions (skdistill.datasets.make_reaching_sessions), train the
spike teacher (masked spike transformer, all sessions), MS-LFP (all sessions), SS-LFP and the
distilled LFP student (session 0) on the train segments, and print velocity R² on val+test:

  unsupervised   frozen embedding + per-session least squares (the paper's protocol)
  supervised     each encoder fine-tuned end to end with a linear head
  floors         ridge on smoothed spikes, on the same-bin LFP and on the lagged LFP
  null controls  the same decoders on velocity circularly shifted in time (about 0)

and the generalization table: the student on sessions it never saw, routed through session 0's
parameters, against MS-LFP, which trained on them. Every number comes from the simulator.
Writes comparison.png, comparison.md, runs.csv and generalization.csv to the output folder.
About 5-8 minutes on one CPU core; --quick takes seconds.
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
        description=DEMO_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--output-dir", default="demo_output",
                      help="where the figure and tables go (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0,
                      help="simulation and training seed (default: %(default)s)")
    demo.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED",
                      help="several seeds instead of --seed: the tables show mean ± sd")
    demo.add_argument("--quick", action="store_true",
                      help="tiny sessions and a few epochs: a smoke run of seconds")
    demo.add_argument("--lfp-model", choices=("population", "mrp"), default="population",
                      help="the simulator's LFP model (default: %(default)s; mrp: the earlier one)")
    demo.add_argument("--threads", type=int, default=1,
                      help="torch threads (default: %(default)s, fastest on shared cores)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        if args.threads < 1:
            raise SystemExit(f"skdistill demo: --threads must be >= 1; got {args.threads}.")
        from skdistill._demo import run_demo

        run_demo(output_dir=args.output_dir, random_state=args.seed, seeds=args.seeds,
                 quick=args.quick, lfp_model=args.lfp_model, n_threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
