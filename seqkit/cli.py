"""The ``seqkit`` command: parses arguments and calls the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _train(args):
    from seqkit.config import apply_overrides, merge, recipe_config
    from seqkit.train import run

    if args.workers:  # a local multi-worker job: one `seqkit train` per worker, on loopback
        from seqkit.distribute import launch_train

        code = launch_train(args.recipe, args.set, args.preset, workers=args.workers,
                            base_port=args.base_port, config_file=args.config)
        if code:
            raise SystemExit(code)
        return
    config = recipe_config(args.recipe, (), preset=args.preset)
    if args.config:
        config = merge(config, load_override_file(args.config))
    config = apply_overrides(config, args.set)
    _, result = run(config)
    metrics = dict(result["metrics"])
    sample = metrics.pop("sample", "")
    print(json.dumps(metrics, indent=2, default=float))
    print(f"run directory: {result['run_dir']}")
    if sample:
        print(f"final sample:\n{sample}")


def load_override_file(path):
    """A JSON override file (a nested dict, e.g. a sweep's best.json)."""
    try:
        with open(path, encoding="utf-8") as handle:
            changes = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--config must be a JSON file holding a nested dict, received "
                         f"{path!r} ({error}).") from error
    if not isinstance(changes, dict):
        raise ValueError(f"--config must hold a JSON object, received {type(changes).__name__} "
                         f"in {path!r}.")
    return changes


def _tune(args):
    from seqkit.tune import is_chief_or_single, tune, write_results

    cells = [c.strip() for c in args.cells.split(",") if c.strip()] if args.cells else None
    project = args.project or args.recipe.replace("-", "_")
    tuner = tune(args.recipe, args.set, preset=args.preset, algorithm=args.algorithm,
                 max_trials=args.trials, seed=args.seed, directory=args.directory,
                 project_name=project, cells=cells, objective=args.objective,
                 trial_budget_s=args.trial_budget_s, overwrite=args.overwrite)
    if not is_chief_or_single():
        print("worker done (the chief writes the results table)")
        return
    out = args.out or f"{args.directory}/{project}/results"
    paths = write_results(tuner, out)
    print(Path(paths["md"]).read_text())
    print(f"results: {paths['csv']}, {paths['md']}, plot {paths['plot']}\n"
          f"best configuration: seqkit train {args.recipe} --config {paths['best']}")


def add_tune_command(commands):
    """``seqkit tune RECIPE ...``: a Keras Tuner sweep (random, hyperband, bayesian)."""
    tune = commands.add_parser("tune", help="Keras Tuner sweep over a recipe")
    tune.add_argument("recipe", help="recipe name (recipes/<name>.py)")
    tune.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="override fixed for every trial (repeatable)")
    tune.add_argument("--preset", default=None, help="a named preset of the recipe")
    tune.add_argument("--algorithm", default="random", choices=["random", "hyperband",
                                                                "bayesian"])
    tune.add_argument("--trials", type=int, default=10, help="trials in the sweep (10)")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--directory", default="tuner", help="tuner output root (tuner)")
    tune.add_argument("--project", default=None, help="project name (default: the recipe)")
    tune.add_argument("--cells", default=None, help="cells to choose from, e.g. gru,lstm,mut1 "
                      "(default: every registered cell)")
    tune.add_argument("--trial-budget-s", type=float, default=None, dest="trial_budget_s",
                      help="wall-time budget of each trial in seconds")
    tune.add_argument("--objective", default=None, help="metric to optimise, NAME[:min|max] "
                      "(default: the recipe's OBJECTIVE, else val_loss)")
    tune.add_argument("--overwrite", action="store_true",
                      help="start over instead of resuming DIRECTORY/PROJECT")
    tune.add_argument("--out", default=None,
                      help="results folder (default: DIRECTORY/PROJECT/results)")
    tune.set_defaults(func=_tune)


def _tune_distributed(args):
    from seqkit.distribute import launch_local_tuner

    # --workers/--port may also come after the recipe, among the `seqkit tune` options.
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--workers", type=int, default=args.workers)
    own.add_argument("--port", type=int, default=args.port)
    known, tune_args = own.parse_known_args(args.tune_args)
    code = launch_local_tuner([args.recipe, *tune_args], workers=known.workers,
                              port=known.port)
    if code:
        raise SystemExit(code)


def add_tune_distributed_command(commands):
    """``seqkit tune-distributed RECIPE --workers N [seqkit tune options]``."""
    sub = commands.add_parser(
        "tune-distributed", help="Keras Tuner sweep with a chief and N workers on loopback")
    sub.add_argument("recipe", help="recipe name (recipes/<name>.py)")
    sub.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    sub.add_argument("--port", type=int, default=None, help="oracle port (default: a free one)")
    sub.add_argument("tune_args", nargs=argparse.REMAINDER,
                     help="any `seqkit tune` options (--trials, --set, --cells ...)")
    sub.set_defaults(func=_tune_distributed)


def _sample(args):
    from seqkit.generate import load_sampler

    sampler = load_sampler(args.run_dir, jit_compile=args.xla)
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


def _vis(args):
    from seqkit import vis
    from seqkit.vis.runs import read_text

    text = read_text(getattr(args, "text", None), getattr(args, "text_file", None))
    common = {"out": args.out}
    if args.vis_command == "activations":
        paths = vis.vis_activations(args.run_dir, text, max_chars=args.max_chars, **common)
    elif args.vis_command == "cells":
        features = args.features.split(",") if args.features else None
        paths = vis.vis_cells(args.run_dir, text, max_chars=args.max_chars, features=features,
                              top=args.top, **common)
    elif args.vis_command == "saturation":
        paths = vis.vis_saturation(args.run_dir, text, max_chars=args.max_chars, **common)
    elif args.vis_command == "gradient-flow":
        paths = vis.vis_gradient_flow(args.run_dir, text, steps=args.steps, batch=args.batch,
                                      **common)
    elif args.vis_command == "saliency":
        paths = vis.vis_saliency(args.run_dir, text, image=args.image,
                                 smooth_samples=args.smooth_samples, **common)
    else:
        paths = vis.vis_curves(args.run_dir, **common)
    for path in paths:
        print(f"wrote {path}")


def add_vis_commands(commands):
    """``seqkit vis activations|cells|saturation|gradient-flow|saliency|curves RUN_DIR``."""
    group = commands.add_parser("vis", help="look inside a trained run (PNG and HTML)")
    kinds = group.add_subparsers(dest="vis_command", required=True)
    helps = {"activations": "a unit's tanh(c) or h coloured over text (HTML with a unit picker)",
             "cells": "rank every unit against text features (quotes, comments, depth...)",
             "saturation": "fraction of steps each gate is < 0.1 or > 0.9, per layer",
             "gradient-flow": "||dL_T/dh_t|| against t and the recurrent matrices' sigma_max",
             "saliency": "tf-keras-vis Saliency and SmoothGrad: tokens or pixels",
             "curves": "training curves from the run's history.json"}
    for name, text in helps.items():
        sub = kinds.add_parser(name, help=text)
        sub.add_argument("run_dir", metavar="RUN_DIR", help="a run directory or recipe name")
        sub.add_argument("--out", default=None, help="output folder (default RUN_DIR/vis)")
        if name == "curves":
            continue
        source = sub.add_mutually_exclusive_group()
        source.add_argument("--text", default=None, help="text to read")
        source.add_argument("--text-file", default=None, dest="text_file",
                            help="file holding the text to read")
        if name in ("activations", "cells", "saturation"):
            sub.add_argument("--max-chars", type=int, default=2000 if name == "activations"
                             else 5000, dest="max_chars", help="characters read at most")
        if name == "cells":
            sub.add_argument("--features", default=None,
                             help="comma-separated feature names (default: all registered)")
            sub.add_argument("--top", type=int, default=5, help="units kept per feature")
        if name == "gradient-flow":
            sub.add_argument("--steps", type=int, default=100, help="window length T")
            sub.add_argument("--batch", type=int, default=8, help="windows averaged")
        if name == "saliency":
            sub.add_argument("--image", default=None,
                             help="image file (captioners, frame classifiers)")
            sub.add_argument("--smooth-samples", type=int, default=20, dest="smooth_samples",
                             help="SmoothGrad samples")
    group.set_defaults(func=_vis)


def build_parser():
    parser = argparse.ArgumentParser(prog="seqkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a recipe")
    train.add_argument("recipe", help="recipe name (recipes/<name>.py)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. model.cell=mut1 (repeatable)")
    train.add_argument("--preset", default=None, help="a named preset of the recipe (demo)")
    train.add_argument("--config", default=None, metavar="FILE.json",
                       help="JSON override file (a nested dict, e.g. a sweep's best.json), "
                       "applied after --preset and before --set")
    train.add_argument("--workers", type=int, default=0, metavar="N",
                       help="run N multi-worker processes on loopback (TF_CONFIG set for each)")
    train.add_argument("--base-port", type=int, default=None, dest="base_port",
                       help="first loopback port of --workers (default: free ports)")
    train.set_defaults(func=_train)

    sample = commands.add_parser("sample", help="generate text from a trained run")
    sample.add_argument("run_dir", help="run directory (holds model.keras and vocab.json)")
    sample.add_argument("--prime", default="\n", help="text to start from")
    sample.add_argument("--length", type=int, default=500)
    sample.add_argument("--temperature", type=float, default=1.0)
    sample.add_argument("--top-k", type=int, default=0, dest="top_k")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--xla", action="store_true",
                        help="compile the generation loop with XLA (faster on CPU at batch 1)")
    sample.set_defaults(func=_sample)
    add_serving_commands(commands)
    add_tune_command(commands)
    add_tune_distributed_command(commands)
    add_vis_commands(commands)
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
