"""char-rnn (Karpathy 2015) defaults: 2-layer LSTM 128, seq 50, batch 50, RMSprop 2e-3.

    seqkit train char_rnn --set data.corpus=linux --set model.cell=mut1
"""

from seqkit.config import merge
from seqkit.train import CHAR_LM


def config():
    return merge(CHAR_LM, {
        "name": "char_rnn",
        "model": {"cell": "lstm", "units": 128, "depth": 2, "init": "uniform:0.08"},
        "train": {
            "batch_size": 50, "seq_length": 50, "epochs": 50,
            "optimizer": "rmsprop", "learning_rate": 2e-3,
            "optimizer_kwargs": {"rho": 0.95, "epsilon": 1e-8},
            "decay_rate": 0.97, "decay_after_epochs": 10,
            "clipvalue": 5.0,            # char-rnn clamps each gradient to [-5, 5]
            "checkpoint_every": 1000, "sample_every": 500,
        },
    })


# `make demo`: a few minutes on a 2-core CPU, samples printed as it learns.
PRESETS = {
    "demo": {
        "name": "demo",
        "train": {"epochs": 1, "max_steps": 3000, "time_budget_s": 240, "sample_every": 500,
                  "resume": False,
                  "val_every": 1000, "val_steps": 20, "checkpoint_every": 500},
        "sample": {"prime": "\nKING HENRY.\n", "temperature": 0.6},
    },
}
