"""Lecture 7's repeated-ones detector: the hand-set ReLU RNN, then the same architecture
trained from random weights until it matches it on held-out random bit strings.

    seqkit train repeated_ones
"""


def config():
    return {
        "name": "repeated_ones",
        "task": "repeated_ones",
        "data": {"train_strings": 2000, "test_strings": 1000, "length": 20},
        "model": {"cell": "vanilla", "units": 3, "cell_kwargs": {"activation": "relu"}},
        "train": {"batch_size": 32, "epochs": 60, "learning_rate": 0.01, "restarts": 10,
                  "seed": 1234, "run_dir": None, "verbose": 0, "dtype": "float32"},
    }
