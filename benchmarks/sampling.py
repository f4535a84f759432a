"""Sampling throughput: characters per second at batch 1 from a char LSTM (H = 512).

Compares, on the same weights, in one run:

* ``seqkit Sampler``: the whole generation loop in one ``tf.function`` (the default),
  and the same loop compiled with XLA (``Sampler(..., jit_compile=True)``);
* ``Keras per-step loop``: a compiled one-step function called from a Python loop,
  the next character drawn with NumPy (the usual Keras recipe);
* ``NumPy step``: a hand-written LSTM step in NumPy float32 with the same weights.

    python -m benchmarks.sampling                 # 1,000 characters, 3 repeats

Writes benchmarks/results/sampling.json.
"""

import argparse
import os
import statistics
import sys
import time

# TensorFlow's thread pools and OpenBLAS's threads fight over 2 cores; the hand-written
# NumPy step ran at 172 characters/s with both. One BLAS thread is its fastest setting here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from benchmarks.common import write_result

TEXT = "".join(chr(c) for c in range(32, 97))  # 65 characters, like Shakespeare's vocabulary


def build(units, embedding):
    import keras

    from seqkit.builders import build_many_to_many
    from seqkit.data.charlm import CharVocab

    keras.utils.set_random_seed(0)
    vocab = CharVocab.from_text(TEXT)
    model = build_many_to_many("lstm", units, vocab.size, embedding_dim=embedding)
    return model, vocab


def keras_loop(sampler):
    """A Python loop over a compiled one-step function; NumPy draws each character."""
    import tensorflow as tf

    step = tf.function(sampler.step)

    def sample(length, seed=0):
        rng = np.random.default_rng(seed)
        states = sampler.stack.initial_state(1)
        token, out = tf.constant([1], tf.int32), []
        for _ in range(length):
            logits, states = step(token, states)
            p = tf.nn.softmax(logits[0]).numpy().astype("float64")
            out.append(int(rng.choice(len(p), p=p / p.sum())))
            token = tf.constant([out[-1]], tf.int32)
        return out

    return sample


def numpy_loop(model):
    """A hand-written NumPy LSTM step (Keras gate order i, f, g, o) on the model's weights."""
    embedding = model.get_layer("embedding").get_weights()[0]
    cell = model.get_layer("recurrent").rnns[0].cell
    kernel, recurrent_kernel, bias = (w.numpy() for w in (cell.kernel, cell.recurrent_kernel,
                                                          cell.bias))
    dense_w, dense_b = model.get_layer("logits").get_weights()
    units = recurrent_kernel.shape[0]

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    def sample(length, seed=0):
        rng = np.random.default_rng(seed)
        h = np.zeros((1, units), "float32")
        c = np.zeros((1, units), "float32")
        token, out = 1, []
        for _ in range(length):
            z = embedding[token][None] @ kernel + h @ recurrent_kernel + bias
            i, f, g, o = np.split(z, 4, axis=-1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            logits = (h @ dense_w + dense_b)[0]
            p = np.exp(logits - logits.max())
            token = int(rng.choice(len(p), p=p / p.sum()))
            out.append(token)
        return out

    return sample


def rates_interleaved(functions, length, repeats):
    """Median characters/s of each function; the functions take turns in every repeat,
    so a load from elsewhere on the machine falls on all of them alike."""
    for function in functions.values():
        function(20)
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function(length)
            times[name].append(time.perf_counter() - started)
    return {name: length / statistics.median(values) for name, values in times.items()}


def main(argv=None):
    from seqkit.generate import Sampler

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--embedding", type=int, default=64)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--intra-op-threads", type=int, default=0, dest="threads",
                        help="TensorFlow intra-op threads (0: TF's default)")
    args = parser.parse_args(argv)
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    model, vocab = build(args.units, args.embedding)
    samplers = {
        "seqkit Sampler (tf.function)": Sampler(model, vocab),
        "seqkit Sampler (XLA)": Sampler(model, vocab, jit_compile=True),
    }
    functions = {name: (lambda n, s=s: s.sample("a", n)) for name, s in samplers.items()}
    functions["Keras per-step loop"] = keras_loop(samplers["seqkit Sampler (tf.function)"])
    functions["NumPy step"] = numpy_loop(model)
    rates = rates_interleaved(functions, args.length, args.repeats)
    for name, value in rates.items():
        print(f"{name:32s} {value:10,.0f} characters/s", flush=True)
    best = max(rates[name] for name in samplers)
    ratios = {"seqkit / Keras per-step loop": best / rates["Keras per-step loop"],
              "seqkit / NumPy step": best / rates["NumPy step"]}
    for name, value in ratios.items():
        print(f"{name:32s} {value:10.2f}x")
    path = write_result("sampling", {
        "setup": {"cell": "lstm", "units": args.units, "embedding": args.embedding,
                  "vocab": vocab.size, "batch": 1, "length": args.length,
                  "repeats": args.repeats, "intra_op_threads": args.threads or "default"},
        "command": "python -m benchmarks.sampling " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "characters_per_s": rates, "ratios": ratios})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
