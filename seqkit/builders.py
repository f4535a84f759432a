"""Model builders, one per sequence topology. Each returns a Functional Keras model
with named inputs and outputs, built from any registered cell.

Example:
    >>> model = build_many_to_many("lstm", 128, vocab_size=65, depth=2, embedding_dim=64)
"""

from __future__ import annotations

import keras

from seqkit.cells import CELLS
from seqkit.layers import OneHot, recurrent


def initializer(spec):
    """``None`` (Keras defaults), ``"normal:STD"`` or ``"uniform:LIMIT"``, as a factory.

    Returns a function giving a fresh initializer per call (or None), so each
    weight gets its own draw.
    """
    if spec is None:
        return lambda: None
    kind, _, value = str(spec).partition(":")
    try:
        scale = float(value)
    except ValueError:
        scale = None
    if kind not in ("normal", "uniform") or scale is None or scale <= 0:
        raise ValueError(f"Unknown initializer {spec!r}; valid forms: None, 'normal:STD' "
                         "(e.g. 'normal:0.01', min-char-rnn) or 'uniform:LIMIT' "
                         "(e.g. 'uniform:0.08', char-rnn).")
    if kind == "normal":
        return lambda: keras.initializers.RandomNormal(stddev=scale)
    return lambda: keras.initializers.RandomUniform(-scale, scale)


def _cell_kwargs(cell_kwargs, init):
    kwargs = dict(cell_kwargs or {})
    if init() is not None:
        kwargs.setdefault("kernel_initializer", init())
        kwargs.setdefault("recurrent_initializer", init())
    return kwargs


def build_many_to_many(cell, units, vocab_size, depth=1, embedding_dim=None, dropout=0.0,
                       connection=None, batch_size=None, seq_length=None, stateful=False,
                       init=None, cell_kwargs=None, compile=True, name="many_to_many"):
    """A synced many-to-many model: one prediction per input step (character LMs).

    Args:
        cell: Registered cell name.
        units: Width of each recurrent layer.
        vocab_size: Number of token ids (inputs and output classes).
        depth: Number of stacked recurrent layers.
        embedding_dim: Width of a learned embedding, or None for one-hot inputs.
        dropout: Dropout on the top layer's outputs, before the logits.
        connection: None, "residual" or "highway" (see ``seqkit.layers.Recurrent``).
        batch_size, seq_length: Fixed input shape (needed when ``stateful``).
        stateful: Carry states across batches (truncated BPTT).
        init: Weight initializer spec (see ``initializer``); biases start at zero.
        cell_kwargs: Extra cell arguments (``dropout``, ``recurrent_dropout``...).
        compile: Compile with Adam and per-step sparse cross-entropy.

    Returns:
        A model ``{"tokens": int (batch, time)} -> {"logits": (batch, time, vocab)}``.
    """
    if cell not in CELLS:
        raise ValueError(f"Unknown cell name {cell!r}; valid names: {sorted(CELLS)}.")
    init = initializer(init)
    tokens = keras.Input(shape=(seq_length,), batch_size=batch_size, dtype="int32",
                         name="tokens")
    if embedding_dim:
        x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding",
                                   embeddings_initializer=init() or "uniform")(tokens)
    else:
        x = OneHot(vocab_size, name="one_hot")(tokens)
    x = recurrent(cell, units, depth=depth, connection=connection, stateful=stateful,
                  name="recurrent", **_cell_kwargs(cell_kwargs, init))(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype="float32"
                                if keras.config.dtype_policy().name == "mixed_float16" else None,
                                kernel_initializer=init() or "glorot_uniform")(x)
    model = keras.Model({"tokens": tokens}, {"logits": logits}, name=name)
    if compile:
        model.compile("adam", {"logits": keras.losses.SparseCategoricalCrossentropy(
            from_logits=True)})
    return model
