"""Polyphonic music (JSB-style): Bach chorales from music21 as 88-key piano rolls,
next-frame prediction with sigmoid outputs, scored in nats per frame.

    seqkit train music --set model.cell=lstm_cifg
    seqkit tune music --cells lstm,lstm_nfg,lstm_noaf --trials 10 --trial-budget-s 120
"""

from seqkit.config import merge, paper_space
from seqkit.train import SUPERVISED

OBJECTIVE = "val_frame_nll:min"

PRESETS = {
    # 6 chorales (4 train, 1 validation, 1 test), seconds-long runs for tests.
    "tiny": {"data": {"limit": 6}, "model": {"units": 8},
             "train": {"batch_size": 4, "epochs": 2, "verbose": 0}},
}


def config():
    return merge(SUPERVISED, {
        "name": "music",
        "task": "music",
        "data": {"frames_per_quarter": 1, "limit": None, "seed": 0, "seq_length": 64},
        "model": {"cell": "lstm", "units": 128, "depth": 1, "embedding_dim": None,
                  "dropout": 0.0},
        "train": {"batch_size": 16, "epochs": 200, "learning_rate": 2e-3,
                  "global_clipnorm": 5.0, "verbose": 2},
    })


def search_space(hp):
    """Width, depth, learning rate, clipping and dropout (the set is small and overfits)."""
    return paper_space(hp, dropout=True)
