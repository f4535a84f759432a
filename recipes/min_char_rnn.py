"""Karpathy's min-char-rnn gist, exactly: vanilla RNN, hidden 100, seq 25, batch 1,
Adagrad 0.1 (no initial accumulator, eps 1e-8 inside the root), weights randn·0.01,
zero biases, gradients clipped to [-5, 5], loss summed over the 25 steps, state
carried from chunk to chunk and reset when the data wraps, a 200-character sample
every 100 iterations. 100 steps run per compiled call (``train.steps_per_execution``;
every step is still recorded, tested equal to one step per call), each compiled with
XLA (``train.jit_compile``):
the same iterations (tested), 11,365 against 9,816 characters/s uncompiled in one
2,000-iteration run; with both, 27,487 characters/s, 2.14x the NumPy gist
(``benchmarks/results/min_char_rnn.json``).

    seqkit train min_char_rnn --set data.corpus=linux
"""

from seqkit.config import merge
from seqkit.train import CHAR_LM


def config():
    return merge(CHAR_LM, {
        "name": "min_char_rnn",
        "model": {"cell": "vanilla", "units": 100, "depth": 1, "embedding_dim": None,
                  "init": "normal:0.01"},
        "train": {
            "batch_size": 1, "seq_length": 25, "epochs": 1, "max_steps": 100_000,
            "optimizer": "adagrad", "learning_rate": 0.1,
            "optimizer_kwargs": {"initial_accumulator_value": 0.0, "epsilon": 1e-8},
            "clipvalue": 5.0, "loss": "sum",
            "sample_every": 100, "sample_length": 200, "checkpoint_every": 5000,
            "val_steps": 2000, "verbose": 0, "jit_compile": True,
            "steps_per_execution": 100,
        },
        "sample": {"temperature": 1.0, "top_k": 0},
    })
