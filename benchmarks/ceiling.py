"""How fast could a recurrent layer train here at all? A matmul ceiling, in one run.

A char-LM training step (the ``benchmarks.throughput`` model: embedding 64 -> one
layer of H units -> 65 logits, batch 64 x 100) costs, per token, the matmuls of the
forward step, ``d(gates) @ W_hᵀ``, ``d(gates) @ W_xᵀ`` and the weight gradients
``xᵀ @ d(gates)``, ``hᵀ @ d(gates)`` (and the output layer's three).
This times each of those matmul shapes alone (TensorFlow, oneDNN, this machine),
and gives the tokens/s a layer would reach if its step were nothing but those
matmuls at those rates: no element-wise op, no loop, no memory traffic. Next to it,
in the same run, ``keras.layers.LSTM`` / ``GRU`` / ``SimpleRNN`` training tokens/s:
``ceiling / Keras`` bounds the speed-up any reordering of the same float32 work can
give over Keras' layer on this CPU.

    python -m benchmarks.ceiling                     # H = 128 and 512
    python -m benchmarks.ceiling --units 512 --rounds 5

Writes benchmarks/results/ceiling.json and prints a table.
"""

import argparse
import sys
import time

from benchmarks.common import write_result
from benchmarks.throughput import BATCH, EMBEDDING, LENGTH, VOCAB, keras_step, measure

#: Keras layer -> matrices side by side in one gate matmul (gates x units).
GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


def matmul_shapes(units, gates):
    """``(m, k, n)`` of every matmul one training token costs, for a batch of BATCH rows.

    Forward: ``x W_x`` (hoisted or not, the same FLOPs), ``h W_h``, the output layer;
    backward: the gradient with respect to each input and to each weight of those.
    """
    width = gates * units
    return {
        "forward x@W_x": (BATCH, EMBEDDING, width),
        "forward h@W_h": (BATCH, units, width),
        "forward h@W_y": (BATCH, units, VOCAB),
        "backward dgates@W_hT": (BATCH, width, units),
        "backward dgates@W_xT": (BATCH, width, EMBEDDING),
        "backward dy@W_yT": (BATCH, VOCAB, units),
        "backward dW_x": (EMBEDDING, BATCH, width),
        "backward dW_h": (units, BATCH, width),
        "backward dW_y": (units, BATCH, VOCAB),
    }


def gflops(shape, repeats=200, rounds=5):
    """Best GFLOP/s of ``repeats`` chained ``[m, k] @ [k, n]`` matmuls in one tf.function."""
    import tensorflow as tf

    m, k, n = shape
    a, b = tf.random.normal((m, k)), tf.random.normal((k, n))

    @tf.function
    def run(a, b):
        total = tf.zeros(())
        for i in range(repeats):  # distinct inputs, so nothing is folded away
            total += tf.matmul(a + float(i), b)[0, 0]
        return total

    run(a, b).numpy()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run(a, b).numpy()
        times.append(time.perf_counter() - started)
    return 2 * m * k * n * repeats / min(times) / 1e9


def ceiling(units, gates, repeats=200):
    """Matmul rates and the tokens/s of a step that would be only those matmuls."""
    shapes = matmul_shapes(units, gates)
    rates = {name: gflops(shape, repeats) for name, shape in shapes.items()}
    flops = {name: 2 * m * k * n / BATCH for name, (m, k, n) in shapes.items()}
    seconds = sum(flops[name] / (rates[name] * 1e9) for name in shapes)
    return {"gflops": rates, "mflop_per_token": sum(flops.values()) / 1e6,
            "tokens_per_s": 1.0 / seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--layers", nargs="+", default=list(GATES), choices=list(GATES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="Keras steps per round")
    args = parser.parse_args(argv)
    results = {}
    for units in args.units:
        for layer in args.layers:
            bound = ceiling(units, GATES[layer])
            measured = measure({layer: (None, keras_step("keras", layer, units))},
                               args.rounds, args.steps)[layer]
            achieved = measured * bound["mflop_per_token"] / 1e3
            results[f"{layer}/{units}"] = {
                **bound, "keras_tokens_per_s": measured, "keras_matmul_gflops": achieved,
                "ceiling_over_keras": bound["tokens_per_s"] / measured}
            print(f"{layer:9s} H={units:4d}: {bound['mflop_per_token']:.2f} MFLOP/token, "
                  f"matmuls alone {bound['tokens_per_s']:9,.0f} tokens/s, Keras "
                  f"{measured:9,.0f} ({achieved:.0f} GFLOP/s of matmul), ceiling / Keras "
                  f"{bound['tokens_per_s'] / measured:.2f}x", flush=True)
    path = write_result("ceiling", {
        "setup": {"vocab": VOCAB, "embedding": EMBEDDING, "batch": BATCH, "length": LENGTH,
                  "optimizer": "adam", "rounds": args.rounds, "steps_per_round": args.steps},
        "command": "python -m benchmarks.ceiling " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "results": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
