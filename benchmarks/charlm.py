"""Character-LM benchmark: 2-layer 512-unit lstm, gru and mut1 on Shakespeare under a
fixed time budget each (validation nats/char against wall time), and min_char_rnn's
training speed against the NumPy gist in the same run.

    python -m benchmarks.charlm --budget-min 60          # the issue's setting (3 h)
    python -m benchmarks.charlm --budget-min 8 --cells lstm,gru,mut1
    python -m benchmarks.charlm --min-char-only --min-char-iterations 10000
    python -m benchmarks.charlm --budget-min 4 --cells mingru,lstm --name charlm_mingru

Writes benchmarks/results/charlm.json and charlm.png (min_char_rnn.json with --min-char-only).
"""

import argparse
import time

import numpy as np

from benchmarks import numpy_min_char_rnn
from benchmarks.common import RESULTS, write_result


def train_cell(cell, budget_s, units, depth):
    from seqkit.config import recipe_config
    from seqkit.train import run

    config = recipe_config("char_rnn", [
        "data.corpus=shakespeare", f"model.cell={cell}", f"model.units={units}",
        f"model.depth={depth}", "train.epochs=1000", f"train.time_budget_s={budget_s}",
        "train.val_every=500", "train.val_steps=40", "train.sample_every=0",
        "train.checkpoint_every=0", f"train.run_dir=runs/bench_charlm_{cell}",
        "train.resume=False", "train.verbose=0", "sample.prime=\nKING HENRY.\n",
        "sample.length=300", "sample.temperature=0.6"])
    config["name"] = f"bench_charlm_{cell}"
    _, result = run(config)
    history, metrics = result["history"], result["metrics"]
    return {
        "cell": cell, "units": units, "depth": depth, "budget_s": budget_s,
        "steps": metrics["steps"], "chars_per_s": metrics["chars_per_s"],
        "val_nats_per_char": history["val_nats_per_char"],
        "val_time_s": history["val_time_s"], "val_step": history["val_step"],
        "best_val_nats_per_char": min(history["val_nats_per_char"]),
        "sample": metrics["sample"],
    }


def min_char_rnn_speed(iterations):
    """Characters/s of seqkit's min_char_rnn recipe and of the NumPy gist, same text."""
    from seqkit.config import recipe_config
    from seqkit.data import CharVocab, load_text
    from seqkit.train import run

    text = load_text("shakespeare", max_chars=200_000)
    vocab = CharVocab.from_text(text)
    started = time.time()
    numpy_min_char_rnn.train(list(vocab.encode(text)), vocab.size, iterations)
    numpy_s = time.time() - started
    config = recipe_config("min_char_rnn", [
        "data.corpus=shakespeare", "data.max_chars=200000",
        f"train.max_steps={iterations + 200}", "train.sample_every=0",
        "train.checkpoint_every=0", "train.run_dir=runs/bench_min_char_rnn",
        "train.resume=False", "train.val_steps=10"])
    config["name"] = "bench_min_char_rnn"
    _, result = run(config)
    seqkit_cps = result["metrics"]["chars_per_s"]
    return {"iterations": iterations, "numpy_gist_chars_per_s": iterations * 25 / numpy_s,
            "seqkit_chars_per_s_including_compile": seqkit_cps,
            "ratio": seqkit_cps / (iterations * 25 / numpy_s)}


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        ax.plot(np.array(r["val_time_s"]) / 60, r["val_nats_per_char"], "o-", label=r["cell"])
    ax.axhline(1.5, color="gray", ls="--", label="goal 1.50")
    ax.set_xlabel("wall time (min)")
    ax.set_ylabel("validation nats / char")
    ax.set_title("2-layer 512-unit char LMs on Shakespeare, 2 CPU cores")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-min", type=float, default=60.0)
    parser.add_argument("--cells", default="lstm,gru,mut1")
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--min-char-iterations", type=int, default=2000)
    parser.add_argument("--name", default="charlm",
                        help="result file name (benchmarks/results/NAME.json and NAME.png)")
    parser.add_argument("--min-char-only", action="store_true",
                        help="only min_char_rnn against the NumPy gist -> min_char_rnn.json")
    args = parser.parse_args(argv)
    speed = min_char_rnn_speed(args.min_char_iterations)
    print(f"min_char_rnn: seqkit {speed['seqkit_chars_per_s_including_compile']:.0f} chars/s, "
          f"NumPy gist {speed['numpy_gist_chars_per_s']:.0f} chars/s, "
          f"ratio {speed['ratio']:.2f}")
    command = "python -m benchmarks.charlm " + " ".join(argv or [])
    if args.min_char_only:
        print(f"wrote {write_result('min_char_rnn', {'command': command, **speed})}")
        return
    results = [train_cell(cell, args.budget_min * 60, args.units, args.depth)
               for cell in args.cells.split(",")]
    for r in results:
        print(f"{r['cell']}: best validation {r['best_val_nats_per_char']:.3f} nats/char after "
              f"{r['steps']} steps ({r['chars_per_s']:.0f} chars/s)\n{r['sample']}\n")
    path = write_result(args.name, {"command": command, "budget_min": args.budget_min,
                                   "models": results, "min_char_rnn": speed})
    plot(results, RESULTS / f"{args.name}.png")
    print(f"wrote {path}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
