"""Sentiment (many-to-one): a tweet -> negative / neutral / positive, with any cell.

    seqkit train sentiment --set model.cell=gru
    seqkit train sentiment --set data.dataset=imdb_reviews      # online tfds, needs internet
"""

from seqkit.config import merge
from seqkit.train import SUPERVISED


def config():
    return merge(SUPERVISED, {
        "name": "sentiment",
        "task": "classify",
        "data": {"source": "text", "dataset": "tweets", "vocab_size": 20000, "max_tokens": 60,
                 "seed": 0},
        "model": {"cell": "lstm", "units": 64, "embedding_dim": 64, "dropout": 0.3},
        "train": {"batch_size": 64, "epochs": 3},
    })
