"""Training throughput of every cell against Keras' built-in layers and torch, in one run.

A character-LM training step (embedding 64 -> one recurrent layer of H units ->
dense over a 65-character vocabulary, batch 64, sequence 100, Adam, forward +
backward + update) for:

* ``seqkit:<cell>``: ``seqkit.layers.recurrent(cell, H)`` (the hoisted loop;
  ``mingru``/``minlstm`` run as a parallel scan);
* ``plain:<cell>``: ``keras.layers.RNN(get_cell(cell, H))``, the same equations
  stepped by Keras with the input projection inside the loop;
* ``keras:LSTM|GRU|SimpleRNN`` with Keras' defaults and with ``jit_compile``;
* ``torch:LSTM|GRU|RNN`` on the CPU, when torch is installed (``pip install -e .[bench]``),
  in a process of their own (``benchmarks.torch_worker``) driven step by step over a pipe,
  so they are interleaved with the Keras models but do not share TensorFlow's threads.

The machine is shared and noisy, so every model is built first and then timed in
interleaved rounds (each round times a few steps of every model); a model's
throughput is its median over rounds, and ratios compare models of the same run.

    python -m benchmarks.throughput                      # every cell, H = 128 and 512
    python -m benchmarks.throughput --units 512 --cells lstm gru --rounds 3

Writes benchmarks/results/throughput.json and prints a table of tokens/s and ratios.
"""

import argparse
import importlib.metadata
import importlib.util
import statistics
import sys
import time

from benchmarks.common import write_result

VOCAB, EMBEDDING, BATCH, LENGTH = 65, 64, 64, 100
KERAS_LAYERS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "vanilla"}
TORCH_LAYERS = {"LSTM": "lstm", "GRU": "gru", "RNN": "vanilla"}


def batch(seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return (rng.integers(0, VOCAB, (BATCH, LENGTH)).astype("int32"),
            rng.integers(0, VOCAB, (BATCH, LENGTH)).astype("int32"))


def keras_step(kind, name, units, jit=False):
    """A function running one compiled Keras training step of the model ``kind:name``."""
    import keras

    from seqkit.cells import get_cell
    from seqkit.layers import recurrent

    keras.utils.set_random_seed(0)
    if kind == "seqkit":
        layer = recurrent(name, units)
    elif kind == "plain":
        layer = keras.layers.RNN(get_cell(name, units), return_sequences=True)
    else:
        layer = getattr(keras.layers, name)(units, return_sequences=True)
    inputs = keras.Input((LENGTH,), dtype="int32")
    hidden = layer(keras.layers.Embedding(VOCAB, EMBEDDING)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(VOCAB)(hidden))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = batch()
    return lambda: model.train_on_batch(x, y)


class TorchWorker:
    """torch's models in a subprocess (``benchmarks.torch_worker``); ``step(name)`` returns
    a function that runs one training step of that model there and waits for it."""

    def __init__(self, units, names):
        import subprocess

        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.torch_worker", str(units), *names],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = self.process.stdout.readline().strip()
        if ready != "ready":
            raise RuntimeError(f"benchmarks.torch_worker did not start: {ready!r}")

    def step(self, name):
        def run():
            self.process.stdin.write(name + "\n")
            if self.process.stdout.readline().strip() != "ok":
                raise RuntimeError(f"benchmarks.torch_worker failed on {name}")

        return run

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)


def models(cells, units, torch_worker=None):
    """Name -> (reference cell or None, step function) for every model of one width."""
    steps = {}
    for layer, cell in KERAS_LAYERS.items():
        steps[f"keras:{layer}"] = (cell, keras_step("keras", layer, units))
        steps[f"keras:{layer}+jit"] = (cell, keras_step("keras", layer, units, jit=True))
    if torch_worker is not None:
        for layer, cell in TORCH_LAYERS.items():
            steps[f"torch:{layer}"] = (cell, torch_worker.step(layer))
    for cell in cells:
        steps[f"seqkit:{cell}"] = (cell, keras_step("seqkit", cell, units))
        steps[f"plain:{cell}"] = (cell, keras_step("plain", cell, units))
    return steps


def measure(steps, rounds, per_round):
    """Median tokens/s of every step function over interleaved rounds (after warm-up)."""
    for name, (_, step) in steps.items():
        print(f"  compiling {name}", flush=True)
        step()
        step()
    rates = {name: [] for name in steps}
    for round_ in range(rounds):
        for name, (_, step) in steps.items():
            started = time.perf_counter()
            for _ in range(per_round):
                step()
            rates[name].append(BATCH * LENGTH * per_round / (time.perf_counter() - started))
        print(f"  round {round_ + 1}/{rounds} done", flush=True)
    return {name: statistics.median(values) for name, values in rates.items()}


def ratios(rates, cells):
    """seqkit against the plain loop of each cell, and against Keras' and torch's layers."""
    out = {}
    for cell in cells:
        ours = rates[f"seqkit:{cell}"]
        out[f"{cell} / plain RNN"] = ours / rates[f"plain:{cell}"]
        for framework, layers in (("keras", KERAS_LAYERS), ("torch", TORCH_LAYERS)):
            for layer, reference in layers.items():
                if reference == cell and f"{framework}:{layer}" in rates:
                    out[f"{cell} / {framework}.{layer}"] = ours / rates[f"{framework}:{layer}"]
    return out


def main(argv=None):
    from seqkit.cells import CELLS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--cells", nargs="+", default=sorted(CELLS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2, help="steps per model per round")
    parser.add_argument("--name", default="throughput", help="result file name")
    args = parser.parse_args(argv)
    with_torch = importlib.util.find_spec("torch") is not None
    if not with_torch:
        print("torch is not installed (pip install -e .[bench]): torch rows skipped")
    results = {}
    for units in args.units:
        print(f"H = {units}: building {len(args.cells) * 2 + 6 + 3 * with_torch} models",
              flush=True)
        worker = TorchWorker(units, list(TORCH_LAYERS)) if with_torch else None
        rates = measure(models(args.cells, units, worker), args.rounds, args.steps)
        if worker is not None:
            worker.close()
        results[str(units)] = {"tokens_per_s": rates, "ratios": ratios(rates, args.cells)}
        for name, rate in sorted(rates.items(), key=lambda item: -item[1]):
            print(f"  {name:28s} {rate:10,.0f} tokens/s")
        for name, ratio in results[str(units)]["ratios"].items():
            print(f"  {name:28s} {ratio:6.2f}x")
    path = write_result(args.name, {
        "setup": {"vocab": VOCAB, "embedding": EMBEDDING, "batch": BATCH, "length": LENGTH,
                  "optimizer": "adam", "rounds": args.rounds, "steps_per_round": args.steps,
                  "torch": importlib.metadata.version("torch") if with_torch else None},
        "command": "python -m benchmarks.throughput " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "results": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
