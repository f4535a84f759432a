"""Many-to-many tasks scored on some steps only (Jozefowicz et al. 2015's tasks).

Character tasks pack their targets as ``int32 (batch, time, 3)``:
``[target id, loss weight, metric weight]``. The loss is the cross-entropy
averaged over the steps of nonzero loss weight; the metrics (accuracy, nats,
whole-sequence exact match) look only at the steps of nonzero metric weight
(the answer of an arithmetic problem, the closing tags of an XML document).
Padding has both weights 0.

Piano-roll tasks give float targets ``(batch, time, keys)`` with padded frames
set to -1: the loss and ``frame_nll`` are the Bernoulli negative
log-likelihood summed over the keys of a frame, averaged over real frames
(nats per frame, the measure of Boulanger-Lewandowski et al. 2012).

Example:
    >>> table = CharTable("0123456789+-=.")
    >>> ones = lambda text: [1] * len(text)
    >>> x, y = char_arrays(["1+2=3."], table, ones, ones)   # (1, 5), (1, 5, 3)
"""

from __future__ import annotations

import json

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from seqkit.builders import build_many_to_many


class CharTable:
    """A fixed character alphabet; id 0 is padding, ids 1.. the alphabet's characters."""

    def __init__(self, alphabet):
        self.chars = list(alphabet)
        self.ids = {c: i + 1 for i, c in enumerate(self.chars)}

    @property
    def size(self):
        return len(self.chars) + 1

    def encode(self, text):
        try:
            return [self.ids[c] for c in text]
        except KeyError as error:
            raise ValueError(f"Character {error.args[0]!r} of {text!r} is not in the alphabet "
                             f"{''.join(self.chars)!r}.") from None

    def save(self, path):
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"chars": self.chars, "padding_id": 0}, handle)


def char_arrays(texts, table, loss_weights, metric_weights):
    """Teacher-forcing arrays of ``texts``: inputs ``int32 (n, T)`` and packed targets
    ``int32 (n, T, 3)``; ``loss_weights(text)`` and ``metric_weights(text)`` give one
    weight per character of ``text`` (the weight of predicting that character)."""
    length = max(len(t) for t in texts) - 1
    x = np.zeros((len(texts), length), np.int32)
    y = np.zeros((len(texts), length, 3), np.int32)
    for i, text in enumerate(texts):
        ids = table.encode(text)
        n = len(ids) - 1
        x[i, :n] = ids[:-1]
        y[i, :n, 0] = ids[1:]
        y[i, :n, 1] = loss_weights(text)[1:]
        y[i, :n, 2] = metric_weights(text)[1:]
    return x, y


def batches(inputs, targets, batch_size, shuffle=False, seed=0):
    """``({"tokens"|"frames": x}, {"logits": y})`` batches of numpy arrays."""
    dataset = tf.data.Dataset.from_tensor_slices((inputs, {"logits": targets}))
    if shuffle:
        dataset = dataset.shuffle(len(targets), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def masked_cross_entropy(y_true, logits):
    """Cross-entropy over the steps whose loss weight (channel 1) is nonzero."""
    y_true = ops.cast(y_true, "int32")
    weights = ops.cast(y_true[..., 1], logits.dtype)
    nats = keras.losses.sparse_categorical_crossentropy(y_true[..., 0], logits,
                                                        from_logits=True)
    return ops.sum(nats * weights) / ops.maximum(ops.sum(weights), 1.0)


@keras.saving.register_keras_serializable(package="seqkit")
class MaskedStepMetric(keras.metrics.Metric):
    """Accuracy, nats or exact match over the steps of nonzero metric weight (channel 2).

    Args:
        kind: ``"accuracy"`` (per step), ``"nats"`` (per step) or ``"exact"`` (the
            fraction of sequences with every scored step right).
        name: Metric name, e.g. ``"answer_accuracy"``.
    """

    KINDS = ("accuracy", "nats", "exact")

    def __init__(self, kind="accuracy", name=None, **kwargs):
        if kind not in self.KINDS:
            raise ValueError(f"Unknown kind {kind!r}; valid choices: {list(self.KINDS)}.")
        super().__init__(name=name or kind, **kwargs)
        self.kind = kind
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        weights = ops.cast(y_true[..., 2] > 0, "float32")
        targets = y_true[..., 0]
        if self.kind == "nats":
            values = ops.cast(keras.losses.sparse_categorical_crossentropy(
                targets, y_pred, from_logits=True), "float32")
        else:
            values = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, -1), "int32"), targets),
                              "float32")
        if self.kind == "exact":
            scored = ops.cast(ops.sum(weights, -1) > 0, "float32")
            wrong = ops.sum((1.0 - values) * weights, -1)
            self.total.assign_add(ops.sum(ops.cast(wrong == 0, "float32") * scored))
            self.count.assign_add(ops.sum(scored))
        else:
            self.total.assign_add(ops.sum(values * weights))
            self.count.assign_add(ops.sum(weights))

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


def frame_nll(y_true, logits):
    """Bernoulli NLL summed over keys, averaged over frames whose targets are not -1."""
    y_true = ops.cast(y_true, logits.dtype)
    real = ops.cast(y_true[..., 0] >= 0, logits.dtype)
    targets = ops.maximum(y_true, 0.0)
    per_key = ops.maximum(logits, 0.0) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.sum(ops.sum(per_key, -1) * real) / ops.maximum(ops.sum(real), 1.0)


@keras.saving.register_keras_serializable(package="seqkit")
class FrameNLL(keras.metrics.Metric):
    """Nats per frame over the whole split (frames weighted equally, padding skipped)."""

    def __init__(self, name="frame_nll", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        frames = ops.sum(ops.cast(y_true[..., 0] >= 0, "float32"))
        self.total.assign_add(frame_nll(y_true, y_pred) * frames)
        self.count.assign_add(frames)

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)


def char_model(config, vocab_size):
    """The many-to-many character model of ``config["model"]`` (tokens -> logits)."""
    m = config["model"]
    return build_many_to_many(
        m["cell"], m["units"], vocab_size, depth=m["depth"], embedding_dim=m["embedding_dim"],
        dropout=m["dropout"], connection=m["connection"], init=m["init"],
        cell_kwargs=m["cell_kwargs"], compile=False, name=config["name"])


def prepare_char_task(config, alphabet, load, data_keys, loss_weights, metric_weights,
                      metrics):
    """Datasets, model, loss and metrics of a character task scored on masked steps.

    Args:
        config: The recipe config.
        alphabet: The task's characters (``CharTable``).
        load: ``load(split, **data)`` -> the split's texts.
        data_keys: The ``config["data"]`` keys passed to ``load``.
        loss_weights, metric_weights: ``text -> per-character 0/1 weights``.
        metrics: The compiled metrics (``MaskedStepMetric``...).
    """
    data, train = config["data"], config["train"]
    table = CharTable(alphabet)
    datasets = {}
    for split in ("train", "validation", "test"):
        texts = load(split, **{k: data[k] for k in data_keys})
        x, y = char_arrays(texts, table, loss_weights, metric_weights)
        datasets[split] = batches({"tokens": x}, y, train["batch_size"],
                                  shuffle=split == "train", seed=train["seed"])
    return {"model": char_model(config, table.size), **datasets, "table": table,
            "loss": masked_cross_entropy, "metrics": metrics}


def evaluate_split(model, dataset, prefix="test_"):
    """``model.evaluate`` on ``dataset`` as ``{prefix + metric: value}``."""
    logs = model.evaluate(dataset, verbose=0, return_dict=True)
    return {f"{prefix}{key.removeprefix('logits_')}": float(value)
            for key, value in logs.items()}
