"""Synthetic XML modelling (Jozefowicz et al. 2015): next character over nested tags,
scored on the closing tags that the open ones determine.

    seqkit train xml_modelling --set model.cell=gru
    seqkit tune xml_modelling --cells gru,lstm,mut2 --trials 10 --trial-budget-s 120
"""

from seqkit.config import merge, paper_space
from seqkit.train import SUPERVISED

OBJECTIVE = "val_closing_accuracy:max"

PRESETS = {
    "tiny": {"data": {"num_train": 256, "num_validation": 64, "num_test": 64,
                      "max_length": 32},
             "model": {"units": 8, "embedding_dim": 8},
             "train": {"batch_size": 32, "epochs": 2, "verbose": 0}},
}


def config():
    return merge(SUPERVISED, {
        "name": "xml_modelling",
        "task": "xml_modelling",
        "data": {"num_train": 20000, "num_validation": 1000, "num_test": 1000, "seed": 0,
                 "max_depth": 3, "max_children": 3, "max_name_length": 3, "max_length": 64},
        "model": {"cell": "lstm", "units": 128, "depth": 1, "embedding_dim": 32},
        "train": {"batch_size": 64, "epochs": 50, "learning_rate": 2e-3,
                  "global_clipnorm": 5.0, "verbose": 2},
    })


def search_space(hp):
    """Width, depth, learning rate and clipping."""
    return paper_space(hp)
