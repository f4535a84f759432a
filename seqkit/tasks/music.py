"""Polyphonic music (JSB-style Bach chorales): predict the next piano-roll frame.

Many-to-many over float frames: the input at step t is frame t (88 keys, 0/1),
the output 88 logits, one independent sigmoid per key, for frame t + 1. The
loss and ``frame_nll`` are the negative log-likelihood in nats per frame
(summed over keys). Training uses windows of ``data.seq_length`` frames cut
from each chorale (the state starts at zero in every window); validation and
test use whole chorales, padded (padding is not scored).
"""

import numpy as np

from seqkit.builders import build_many_to_many
from seqkit.data.music import KEYS, load_chorales
from seqkit.tasks.masked import FrameNLL, batches, evaluate_split, frame_nll


def roll_arrays(rolls, window=None):
    """Inputs ``float32 (n, T, 88)`` and targets (next frames, -1 where padded).

    With ``window``, each roll is cut into pieces of ``window + 1`` frames
    (consecutive pieces share one frame) so every transition is scored once.
    """
    pieces = []
    for roll in rolls:
        if window is None or len(roll) <= window + 1:
            pieces.append(roll)
        else:
            pieces += [roll[s:s + window + 1] for s in range(0, len(roll) - 1, window)]
    pieces = [p for p in pieces if len(p) >= 2]
    length = max(len(p) for p in pieces) - 1
    x = np.zeros((len(pieces), length, KEYS), np.float32)
    y = np.full((len(pieces), length, KEYS), -1.0, np.float32)
    for i, piece in enumerate(pieces):
        x[i, :len(piece) - 1] = piece[:-1]
        y[i, :len(piece) - 1] = piece[1:]
    return x, y


def prepare(config):
    data, train, m = config["data"], config["train"], config["model"]
    datasets = {}
    for split in ("train", "validation", "test"):
        rolls = load_chorales(split, frames_per_quarter=data["frames_per_quarter"],
                              limit=data["limit"], seed=data["seed"])
        x, y = roll_arrays(rolls, data["seq_length"] if split == "train" else None)
        datasets[split] = batches({"frames": x}, y, train["batch_size"],
                                  shuffle=split == "train", seed=train["seed"])
    model = build_many_to_many(
        m["cell"], m["units"], KEYS, depth=m["depth"], dropout=m["dropout"],
        connection=m["connection"], init=m["init"], cell_kwargs=m["cell_kwargs"],
        compile=False, name=config["name"], input_dim=KEYS)
    return {"model": model, **datasets, "loss": frame_nll, "metrics": [FrameNLL()]}


def evaluate(config, model, prepared):
    """Nats per frame on the held-out test chorales (whole pieces)."""
    return evaluate_split(model, prepared["test"])


def save_artifacts(prepared, run_dir):
    del prepared, run_dir  # nothing beyond the model: the roll needs no vocabulary
