"""Model builders, one per sequence topology. Each returns a Functional Keras model
with named inputs and outputs, built from any registered cell.

Example:
    >>> model = build_many_to_many("lstm", 128, vocab_size=65, depth=2, embedding_dim=64)
"""

from __future__ import annotations

import keras

from seqkit.cells import CELLS, get_cell
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
                       init=None, cell_kwargs=None, compile=True, name="many_to_many",
                       input_dim=None):
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
        input_dim: Width of float input frames (input ``"frames"``, e.g. piano-roll
            frames); ``vocab_size`` is then only the width of the output logits.

    Returns:
        A model ``{"tokens": int (batch, time)} -> {"logits": (batch, time, vocab)}``,
        or ``{"frames": float (batch, time, input_dim)} -> ...`` with ``input_dim``.
    """
    if cell not in CELLS:
        raise ValueError(f"Unknown cell name {cell!r}; valid names: {sorted(CELLS)}.")
    init = initializer(init)
    input_name = "tokens" if input_dim is None else "frames"
    tokens = keras.Input(shape=(seq_length,) if input_dim is None else (seq_length, input_dim),
                         batch_size=batch_size, dtype="int32" if input_dim is None else None,
                         name=input_name)
    if input_dim is not None:
        x = tokens
    elif embedding_dim:
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
    model = keras.Model({input_name: tokens}, {"logits": logits}, name=name)
    if compile:
        model.compile("adam", {"logits": keras.losses.BinaryCrossentropy(from_logits=True)
                               if input_dim is not None else
                               keras.losses.SparseCategoricalCrossentropy(from_logits=True)})
    return model


def _compile(model, compile, output, metrics=()):
    if compile:
        model.compile("adam", {output: keras.losses.SparseCategoricalCrossentropy(
            from_logits=output == "logits")}, metrics={output: list(metrics)} if metrics else None)
    return model


def _float32_head():
    """Output layers stay float32 under mixed precision (stable softmax and loss)."""
    return "float32" if keras.config.dtype_policy().name == "mixed_float16" else None


def _check_cell(cell):
    if cell not in CELLS:
        raise ValueError(f"Unknown cell name {cell!r}; valid names: {sorted(CELLS)}.")


def build_many_to_one(cell, units, num_classes, depth=1, vocab_size=None, embedding_dim=64,
                      input_dim=None, dropout=0.0, connection=None, init=None,
                      cell_kwargs=None, compile=True, name="many_to_one"):
    """A many-to-one classifier: a sequence in, class probabilities out.

    Token sequences (``vocab_size`` given; id 0 is padding and is masked) or float
    frames (``input_dim`` given, e.g. image rows). The prediction reads the top
    layer's output at each sequence's last unpadded step.

    Args:
        cell, units, depth, connection, init, cell_kwargs: As ``build_many_to_many``.
        num_classes: Number of classes.
        vocab_size: Token vocabulary (input ``"tokens"``), or None for frames.
        embedding_dim: Embedding width for tokens.
        input_dim: Frame width (input ``"frames"``) when ``vocab_size`` is None.
        dropout: Dropout before the classifier.

    Returns:
        ``{"tokens" | "frames"} -> {"probabilities": (batch, num_classes)}``.

    Example:
        >>> model = build_many_to_one("gru", 64, num_classes=3, vocab_size=5000)
    """
    _check_cell(cell)
    if (vocab_size is None) == (input_dim is None):
        raise ValueError("Give exactly one of vocab_size (token input) and input_dim (frame "
                         f"input); received vocab_size={vocab_size!r}, input_dim={input_dim!r}.")
    init = initializer(init)
    if vocab_size is not None:
        inputs = keras.Input((None,), dtype="int32", name="tokens")
        x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True,
                                   name="embedding")(inputs)
        input_name = "tokens"
    else:
        inputs = keras.Input((None, input_dim), name="frames")
        x = inputs
        input_name = "frames"
    x = recurrent(cell, units, depth=depth, connection=connection, return_sequences=False,
                  name="recurrent", **_cell_kwargs(cell_kwargs, init))(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="probabilities",
                                       dtype=_float32_head())(x)
    model = keras.Model({input_name: inputs}, {"probabilities": probabilities}, name=name)
    return _compile(model, compile, "probabilities", ["accuracy"])


CONDITIONINGS = ("input", "initial_state")


def image_encoder(image_shape, features, filters=(32, 64), name="image_encoder"):
    """A small CNN: uint8 image -> feature vector ``v`` (ReLU convolutions, pooling)."""
    image = keras.Input(image_shape, name="image")
    x = keras.layers.Rescaling(1.0 / 255)(image)
    for k, width in enumerate(filters):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu",
                                name=f"conv_{k}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{k}")(x)
    x = keras.layers.Flatten()(x)
    v = keras.layers.Dense(features, activation="relu", name="image_features")(x)
    return keras.Model(image, v, name=name)


@keras.saving.register_keras_serializable(package="seqkit")
class RepeatOverTime(keras.layers.Layer):
    """Concatenates a vector to every step of a sequence: ``[x_t; v]``.

    With the recurrence's input matrix split as ``[W_xh; W_ih]`` this gives the
    lecture's ``h = tanh(W_xh x + W_hh h + W_ih v)``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        sequence, vector = inputs
        steps = keras.ops.shape(sequence)[1]
        tiled = keras.ops.repeat(keras.ops.expand_dims(vector, 1), steps, axis=1)
        return keras.ops.concatenate([sequence, keras.ops.cast(tiled, sequence.dtype)], -1)

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def compute_output_shape(self, input_shape):
        sequence, vector = input_shape
        return (*sequence[:-1], sequence[-1] + vector[-1])


def build_one_to_many(cell, units, vocab_size, image_shape, depth=1, embedding_dim=64,
                      conditioning="input", features=128, encoder_filters=(32, 64),
                      dropout=0.0, init=None, cell_kwargs=None, compile=True,
                      name="one_to_many"):
    """An image captioner: a CNN encodes the image into ``v``; the recurrence writes words.

    Trained with teacher forcing: ``tokens`` is the caption after ``<START>``'s
    insertion and ``logits`` predicts the next word at each step.

    Args:
        cell, units, depth, init, cell_kwargs: As ``build_many_to_many``.
        vocab_size: Caption vocabulary (id 0 padding).
        image_shape: ``(height, width, channels)`` of the uint8 images.
        conditioning: ``"input"``: ``v`` enters every step (``W_ih v``, the lecture's
            form); ``"initial_state"``: ``v`` sets every layer's initial states.
        features: Width of ``v``.

    Returns:
        ``{"image", "tokens"} -> {"logits": (batch, time, vocab)}``.

    Example:
        >>> model = build_one_to_many("lstm", 128, vocab_size=20, image_shape=(28, 112, 1))
    """
    _check_cell(cell)
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"Unknown conditioning {conditioning!r}; valid choices: "
                         f"{list(CONDITIONINGS)}.")
    init = initializer(init)
    encoder = image_encoder(image_shape, features, encoder_filters)
    image = keras.Input(image_shape, name="image")
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    v = encoder(image)
    x = keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True,
                               name="embedding")(tokens)
    stack = recurrent(cell, units, depth=depth, name="recurrent",
                      **_cell_kwargs(cell_kwargs, init))
    if conditioning == "input":
        x = stack(RepeatOverTime(name="condition")([x, v]))
    else:
        count = depth * len(get_cell(cell, units).state_size)
        states = [keras.layers.Dense(units, activation="tanh", name=f"initial_state_{k}")(v)
                  for k in range(count)]
        x = stack(x, initial_state=states)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype=_float32_head())(x)
    model = keras.Model({"image": image, "tokens": tokens}, {"logits": logits}, name=name)
    return _compile(model, compile, "logits")


ATTENTIONS = (None, "luong", "bahdanau")


def build_seq2seq(cell, units, source_vocab_size, target_vocab_size, depth=1,
                  embedding_dim=64, attention=None, dropout=0.0, init=None, cell_kwargs=None,
                  compile=True, name="seq2seq"):
    """Encoder-decoder (many-to-one + one-to-many): the encoder's final states start the
    decoder; with ``attention`` each decoder output also reads a weighted sum of the
    encoder outputs (Luong et al. 2015's placement, after the decoder recurrence).

    Args:
        cell, units, depth, init, cell_kwargs: As ``build_many_to_many``.
        source_vocab_size, target_vocab_size: Vocabularies (id 0 padding).
        attention: None (context vector only), ``"luong"`` (dot-product scores) or
            ``"bahdanau"`` (additive scores).

    Returns:
        ``{"source", "target_in"} -> {"logits": (batch, target_time, target_vocab)}``.

    Example:
        >>> model = build_seq2seq("gru", 128, 8000, 8000, attention="luong")
    """
    _check_cell(cell)
    if attention not in ATTENTIONS:
        raise ValueError(f"Unknown attention {attention!r}; valid choices: {list(ATTENTIONS)}.")
    init = initializer(init)
    source = keras.Input((None,), dtype="int32", name="source")
    target_in = keras.Input((None,), dtype="int32", name="target_in")
    x = keras.layers.Embedding(source_vocab_size, embedding_dim, mask_zero=True,
                               name="source_embedding")(source)
    encoded, *states = recurrent(cell, units, depth=depth, return_state=True, name="encoder",
                                 **_cell_kwargs(cell_kwargs, init))(x)
    y = keras.layers.Embedding(target_vocab_size, embedding_dim, mask_zero=True,
                               name="target_embedding")(target_in)
    y = recurrent(cell, units, depth=depth, name="decoder",
                  **_cell_kwargs(cell_kwargs, init))(y, initial_state=states)
    if attention:
        layer = keras.layers.Attention(name="attention") if attention == "luong" \
            else keras.layers.AdditiveAttention(name="attention")
        context = layer([y, encoded])
        y = keras.layers.Dense(units, activation="tanh", name="attention_vector")(
            keras.layers.Concatenate(name="with_context")([y, context]))
    if dropout:
        y = keras.layers.Dropout(dropout, name="dropout")(y)
    logits = keras.layers.Dense(target_vocab_size, name="logits", dtype=_float32_head())(y)
    model = keras.Model({"source": source, "target_in": target_in}, {"logits": logits},
                        name=name)
    return _compile(model, compile, "logits")
