"""Translation (seq2seq): English -> French UI messages from the GNU gettext catalogs on this
machine; encoder-decoder with the context vector alone, or with attention.

    seqkit train translate                                 # Luong attention
    seqkit train translate --set model.attention=none      # context vector only
    seqkit train translate --set data.lang=de
"""

from seqkit.config import merge
from seqkit.train import SUPERVISED


def config():
    return merge(SUPERVISED, {
        "name": "translate",
        "task": "translate",
        "data": {"lang": "fr", "max_tokens": 12, "vocab_size": 8000, "seed": 0},
        "model": {"cell": "gru", "units": 256, "embedding_dim": 128, "attention": "luong"},
        "train": {"batch_size": 64, "epochs": 4},
        "eval": {"examples": 300, "beam_width": 4, "max_length": 20},
    })
