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
    print(f"run directory: {result['run_dir']}")
    if sample:
        print(f"final sample:\n{sample}")


def _sample(args):
    from seqkit.generate import load_sampler

    sampler = load_sampler(args.run_dir)
    text = sampler.sample(args.prime, args.length, args.temperature, args.top_k, args.seed)
    print(args.prime + text)


def _export(args):
    from seqkit.export import export_run, resolve_run

    path = export_run(resolve_run(args.run, runs_dir=args.runs), base=args.base, name=args.name,
                      max_length=args.max_length, absolute_paths=args.absolute_paths)
    import tensorflow as tf

    signatures = sorted(tf.saved_model.load(str(path)).signatures)
    print(f"exported {path} (signatures: {', '.join(signatures)})\n"
          f"serving config: {path.parent.parent / 'models.config'}")


def _predict(args):
    from seqkit import serving

    try:
        text = args.input
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as handle:
                text = handle.read()
        inputs = json.loads(text)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--input must be a JSON object (or @FILE holding one), received "
                         f"{args.input!r:.200} ({error}).") from error
    if not isinstance(inputs, dict):
        raise ValueError(f"--input must be a JSON object {{input key: values}}, received "
                         f"{args.input!r:.200}.")
    if (args.rest or args.grpc) and not args.model:
        raise ValueError("--rest and --grpc need --model NAME (the served model's name).")
    try:
        if args.local:
            outputs = serving.predict_local(args.local, args.signature, inputs)
        elif args.rest:
            outputs = serving.predict_rest(args.rest, args.model, inputs, args.signature,
                                           args.version)
        else:
            outputs = serving.predict_grpc(args.grpc, args.model, inputs, args.signature,
                                           args.version)
    except ConnectionError as error:
        raise ValueError(str(error)) from error
    print(json.dumps(serving.to_jsonable(outputs), indent=2, ensure_ascii=False))


def _serve(args):
    from seqkit.serving import serve

    code = serve(args.base, rest_port=args.rest_port, grpc_port=args.grpc_port,
                 print_only=args.print_only)
    if code:
        raise SystemExit(code)


def add_serving_commands(commands):
    """``seqkit export``, ``seqkit predict`` and ``seqkit serve``."""
    export = commands.add_parser("export", help="export a run as the next SavedModel version")
    export.add_argument("run", metavar="RUN_DIR_OR_RECIPE",
                        help="a run directory, or a recipe name meaning runs/<recipe>")
    export.add_argument("--base", default="saved_models", help="export root (saved_models)")
    export.add_argument("--name", default=None, help="model name (default: the run's folder)")
    export.add_argument("--runs", default="runs", help="where recipe runs live (runs)")
    export.add_argument("--max-length", type=int, default=10_000, dest="max_length",
                        help="largest length the generate signature accepts")
    export.add_argument("--absolute-paths", action="store_true", dest="absolute_paths",
                        help="absolute base_path in models.config (local server, not docker)")
    export.set_defaults(func=_export)

    predict = commands.add_parser("predict", help="call a signature of an exported model")
    where = predict.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", metavar="SAVED_MODEL_DIR",
                       help="a version directory or saved_models/<name> (latest version)")
    where.add_argument("--rest", metavar="URL", help="TF Serving REST root, http://host:8501")
    where.add_argument("--grpc", metavar="HOST:PORT", help="TF Serving gRPC, host:8500")
    predict.add_argument("--model", default=None, help="served model name (--rest, --grpc)")
    predict.add_argument("--version", type=int, default=None, help="model version (latest)")
    predict.add_argument("--signature", default="serving_default",
                         help="serving_default (= generate), generate, step or vocabulary")
    predict.add_argument("--input", default="{}", metavar="JSON",
                         help='inputs by column, e.g. \'{"prompt": ["ROMEO."], "length": 100, '
                              '"temperature": 0.8, "seed": 1}\' (or @FILE)')
    predict.set_defaults(func=_predict)

    serve = commands.add_parser("serve", help="serve saved_models/ with TensorFlow Serving")
    serve.add_argument("--base", default="saved_models", help="export root (saved_models)")
    serve.add_argument("--rest-port", type=int, default=8501, dest="rest_port")
    serve.add_argument("--grpc-port", type=int, default=8500, dest="grpc_port")
    serve.add_argument("--print-only", action="store_true", dest="print_only",
                       help="print the docker command instead of starting a local server")
    serve.set_defaults(func=_serve)


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
    add_serving_commands(commands)
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
