"""The ``seqkit`` command: parses arguments and calls the library."""

from __future__ import annotations

import argparse
import json
import sys


def _train(args):
    from seqkit.config import recipe_config
    from seqkit.train import run

    config = recipe_config(args.recipe, args.set, preset=args.preset)
    _, result = run(config)
    metrics = dict(result["metrics"])
    sample = metrics.pop("sample", "")
    print(json.dumps(metrics, indent=2, default=float))
    print(f"run directory: {result['run_dir']}\nfinal sample:\n{sample}")


def _sample(args):
    from seqkit.generate import load_sampler

    sampler = load_sampler(args.run_dir)
    text = sampler.sample(args.prime, args.length, args.temperature, args.top_k, args.seed)
    print(args.prime + text)


def build_parser():
    parser = argparse.ArgumentParser(prog="seqkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a recipe")
    train.add_argument("recipe", help="recipe name (recipes/<name>.py)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. model.cell=mut1 (repeatable)")
    train.add_argument("--preset", default=None, help="a named preset of the recipe (demo)")
    train.set_defaults(func=_train)

    sample = commands.add_parser("sample", help="generate text from a trained run")
    sample.add_argument("run_dir", help="run directory (holds model.keras and vocab.json)")
    sample.add_argument("--prime", default="\n", help="text to start from")
    sample.add_argument("--length", type=int, default=500)
    sample.add_argument("--temperature", type=float, default=1.0)
    sample.add_argument("--top-k", type=int, default=0, dest="top_k")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=_sample)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as error:
        print(f"seqkit: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
