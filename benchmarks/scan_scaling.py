"""Training time per step against sequence length: parallel scan against sequential loops.

mingru / minlstm through ``ParallelRNN`` (all steps at once) against
``keras.layers.RNN(get_cell("gru" | "lstm"))`` (one step at a time), and
``keras.layers.RNN(get_cell("mingru"))`` (the same model one step at a time, the
paper's comparison). One training step is forward + backward + Adam on a single
layer, batch 16, 256 units, 64 inputs. Each time is the median of a few steps
after two warm-up steps; a sequential model is stopped once a step takes longer
than ``--budget-s``.

    python -m benchmarks.scan_scaling            # T = 128 ... 4096
    python -m benchmarks.scan_scaling --quick    # T = 128 ... 1024, fewer steps

Writes benchmarks/results/scan_scaling.json and prints a table.
"""

import argparse
import statistics
import time

from benchmarks.common import write_result

LENGTHS = (128, 256, 512, 1024, 2048, 4096)
QUICK_LENGTHS = (128, 256, 512, 1024)
#: Column name -> (cell, runs through ParallelRNN).
MODELS = {"mingru": ("mingru", True), "minlstm": ("minlstm", True), "gru": ("gru", False),
          "lstm": ("lstm", False), "mingru_seq": ("mingru", False)}


def train_step(name, length, batch=16, units=256, width=64, jit=False):
    """A function running one training step of model ``name`` on a fixed batch."""
    import keras
    import numpy as np
    import tensorflow as tf

    from seqkit.cells import get_cell
    from seqkit.cells.minimal import ParallelRNN

    keras.utils.set_random_seed(0)
    cell_name, parallel = MODELS[name]
    cell = get_cell(cell_name, units)
    layer = ParallelRNN(cell) if parallel else keras.layers.RNN(cell, return_sequences=True)
    xs = tf.constant(np.random.default_rng(0).standard_normal((batch, length, width)),
                     "float32")
    layer(xs[:, :2])
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(layer.trainable_variables)

    @tf.function(jit_compile=jit)
    def step(xs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(xs, training=True)))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply_gradients(zip(grads, layer.trainable_variables))
        return loss

    return lambda: float(step(xs))


def step_times(names, length, steps, jit=False):
    """Seconds per step of each model: two warm-up steps, then ``steps`` rounds in turn
    (one step of every model per round, so that load changes hit them all alike)."""
    runs = {name: train_step(name, length, jit=jit) for name in names}
    for run in runs.values():
        run(), run()
    times = {name: [] for name in names}
    for _ in range(steps):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T up to 1024, 3 steps each")
    parser.add_argument("--lengths", help="comma-separated T values (overrides --quick)")
    parser.add_argument("--steps", type=int, help="timed steps per point (default 5, quick 3)")
    parser.add_argument("--budget-s", type=float, default=10.0,
                        help="stop a sequential model after a step slower than this")
    parser.add_argument("--jit", action="store_true", help="compile the steps with XLA")
    parser.add_argument("--name", default="scan_scaling", help="result file name")
    parser.add_argument("--threads", type=int,
                        help="TensorFlow intra-op threads (default: TensorFlow's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    lengths = ([int(t) for t in args.lengths.split(",")] if args.lengths
               else QUICK_LENGTHS if args.quick else LENGTHS)
    steps = args.steps or (3 if args.quick else 5)

    results = {name: {} for name in MODELS}
    running = list(MODELS)
    for length in lengths:
        times = step_times(running, length, steps, jit=args.jit)
        for name in MODELS:
            if name not in times:
                results[name][length] = None
                continue
            median = statistics.median(times[name])
            results[name][length] = {"median_s": median, "times_s": times[name]}
            print(f"T={length:5d} {name:10s} {median * 1e3:9.1f} ms/step", flush=True)
            if not MODELS[name][1] and median > args.budget_s:
                running.remove(name)  # sequential and past the time budget

    pairs = (("mingru", "gru"), ("minlstm", "lstm"), ("mingru", "mingru_seq"))
    speedups = {f"{seq}/{par}": {str(t): results[seq][t]["median_s"] / results[par][t]["median_s"]
                                 for t in lengths if results[seq][t]} for par, seq in pairs}
    print("\nms per training step (speed-up of the parallel scan)")
    print(f"{'T':>6} " + " ".join(f"{name:>10}" for name in MODELS) + " "
          + " ".join(f"{key:>18}" for key in speedups))
    for length in lengths:
        cells = [f"{r['median_s'] * 1e3:10.1f}" if r else f"{'-':>10}"
                 for r in (results[name][length] for name in MODELS)]
        ratios = [f"{ratio[str(length)]:17.1f}x" if str(length) in ratio else f"{'-':>18}"
                  for ratio in speedups.values()]
        print(f"{length:>6} " + " ".join(cells) + " " + " ".join(ratios))

    path = write_result(args.name, {
        "setting": {"batch": 16, "units": 256, "input_dim": 64, "lengths": lengths,
                    "timed_steps": steps, "warmup_steps": 2, "budget_s": args.budget_s,
                    "jit_compile": args.jit, "intra_op_threads": args.threads,
                    "step": "forward + backward + Adam, one layer",
                    "models": {name: f"ParallelRNN(get_cell({cell!r}))" if parallel
                               else f"keras.layers.RNN(get_cell({cell!r}))"
                               for name, (cell, parallel) in MODELS.items()}},
        "median_s": {name: {str(t): (r["median_s"] if r else None)
                            for t, r in results[name].items()} for name in MODELS},
        "speedup": speedups,
        "times_s": {name: {str(t): (r["times_s"] if r else None)
                           for t, r in results[name].items()} for name in MODELS},
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
