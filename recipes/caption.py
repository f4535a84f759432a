"""Image captioning (one-to-many): a 2x2 grid of real Fashion-MNIST items -> a caption that
names each item and its place, decoded greedily and with beam search.

    seqkit train caption --set model.conditioning=initial_state --set eval.beam_width=5
    seqkit train caption --set data.dataset=coco_captions        # online tfds, needs internet
"""

from seqkit.config import merge
from seqkit.train import SUPERVISED


def config():
    return merge(SUPERVISED, {
        "name": "caption",
        "task": "caption",
        "data": {"dataset": "fashion_captions", "num_train": 20000, "num_validation": 1000,
                 "num_test": 1000, "seed": 0},
        "model": {"cell": "lstm", "units": 128, "embedding_dim": 32, "conditioning": "input"},
        "train": {"batch_size": 64, "epochs": 4},
        "eval": {"examples": 500, "beam_width": 3, "max_length": 20},
    })
