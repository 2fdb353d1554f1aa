"""Command line: ``skdistill demo``. Thin; calls the public API only."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="skdistill", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="simulate reaching sessions and print the decoding comparison")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from skdistill._demo import run_demo

        run_demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
