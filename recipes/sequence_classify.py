"""Sequence classification (many-to-one over frames): a Fashion-MNIST image read as a
sequence of 28 rows of 28 pixels -> one of 10 classes.

    seqkit train sequence_classify --set model.cell=mut2
"""

from seqkit.config import merge
from seqkit.train import SUPERVISED


def config():
    return merge(SUPERVISED, {
        "name": "sequence_classify",
        "task": "classify",
        "data": {"source": "image_rows", "seed": 0},
        "model": {"cell": "lstm", "units": 128, "embedding_dim": None},
        "train": {"batch_size": 128, "epochs": 3},
    })
