"""Arithmetic with distractors (Jozefowicz et al. 2015): read "5b600+34i2hh=", write "5942.".

    seqkit train arithmetic --set model.cell=mut1
    seqkit tune arithmetic --cells gru,lstm,mut1 --trials 10 --trial-budget-s 120
"""

from seqkit.config import merge, paper_space
from seqkit.train import SUPERVISED

OBJECTIVE = "val_answer_accuracy:max"

PRESETS = {
    # Seconds-long runs for tests and smoke checks.
    "tiny": {"data": {"num_train": 256, "num_validation": 64, "num_test": 64},
             "model": {"units": 8, "embedding_dim": 8},
             "train": {"batch_size": 32, "epochs": 2, "verbose": 0}},
}


def config():
    return merge(SUPERVISED, {
        "name": "arithmetic",
        "task": "arithmetic",
        "data": {"num_train": 20000, "num_validation": 1000, "num_test": 1000, "seed": 0,
                 "max_digits": 4, "distractor_prob": 0.3},
        "model": {"cell": "lstm", "units": 128, "depth": 1, "embedding_dim": 32},
        "train": {"batch_size": 64, "epochs": 50, "learning_rate": 2e-3,
                  "global_clipnorm": 5.0, "verbose": 2},
    })


def search_space(hp):
    """Width, depth, learning rate and clipping (no dropout: the task does not overfit)."""
    return paper_space(hp)
