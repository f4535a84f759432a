"""Gradient flow through time: ``||dL_T/dh_t||`` for every step ``t`` of every layer.

``L_T`` is the loss at the last step only, so ``dL_T/dh_t`` is what backpropagation
through time carries from step ``T`` back to step ``t``: for a linear RNN
``h_t = h_{t-1} W`` it is ``dL_T/dh_T · (W^T)^(T-t)``, which vanishes when the largest
singular value of ``W`` is below 1 and can explode above it; ``tanh`` only shrinks it
further. LSTM and GRU carry their state through an elementwise gate instead.

The stack is stepped with each layer's own cell under a ``tf.GradientTape`` and the
gradient is taken with respect to every recorded ``h_t`` (and ``c_t`` for the LSTM
family).

Example:
    >>> flow = lm_gradient_flow(model, ids)          # ids: (batch, T + 1) token ids
    >>> flow["h"].shape                              # (layers, T)
    (2, 100)
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def gradient_norms(stack, inputs, loss_fn):
    """Mean over the batch of ``||dL/dh_t||`` (and ``||dL/dc_t||``) per layer and step.

    Args:
        stack: A ``seqkit.layers.Recurrent`` stack.
        inputs: ``(batch, T, input_dim)`` floats, the stack's input.
        loss_fn: ``fn(outputs (batch, T, units)) -> (batch,)`` per-example loss (e.g.
            the loss at the last step).

    Returns:
        ``{"h": (layers, T), "c": (layers, T) or absent, "loss": float}``.

    Example:
        >>> gradient_norms(stack, x, lambda out: tf.reduce_sum(out[:, -1] * v, -1))
    """
    inputs = tf.convert_to_tensor(inputs, stack.compute_dtype)
    if inputs.shape.rank != 3:
        raise ValueError(f"inputs must be (batch, T, input_dim), received shape {inputs.shape}.")
    batch, steps = int(inputs.shape[0]), int(inputs.shape[1])
    per = stack.states_per_layer
    has_c = per >= 2 and "c" in getattr(stack.rnns[0].cell, "state_names", ())
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        states = stack.initial_state(batch)
        for state in states:
            tape.watch(state)
        hs = [[] for _ in stack.rnns]
        cs = [[] for _ in stack.rnns]
        outputs = []
        for t in range(steps):
            x, new = inputs[:, t], []
            for layer, rnn in enumerate(stack.rnns):
                out, layer_states = rnn.cell(x, list(states[layer * per:(layer + 1) * per]),
                                             training=False)
                layer_states = list(layer_states)
                hs[layer].append(layer_states[0])
                if has_c:
                    cs[layer].append(layer_states[1])
                new += layer_states
                x = stack.connect(layer, x, layer_states[0])
            states = new
            outputs.append(x)
        per_example = loss_fn(tf.stack(outputs, axis=1))
        loss = tf.reduce_sum(per_example)
    sources = [h for layer in hs for h in layer] + [c for layer in cs for c in layer]
    grads = tape.gradient(loss, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    norms = np.array([float(tf.reduce_mean(tf.norm(g, axis=-1))) for g in grads])
    layers = len(stack.rnns)
    result = {"h": norms[:layers * steps].reshape(layers, steps),
              "loss": float(loss) / batch}
    if has_c:
        result["c"] = norms[layers * steps:].reshape(layers, steps)
    return result


def _encoder(model):
    names = {layer.name for layer in model.layers}
    return model.get_layer("embedding" if "embedding" in names else "one_hot")


def lm_gradient_flow(model, ids):
    """``gradient_norms`` for a char LM: ``L_T`` = cross-entropy of the last prediction.

    Args:
        model: A ``build_many_to_many`` model (layers ``one_hot``/``embedding``,
            ``recurrent``, ``logits``).
        ids: ``(batch, T + 1)`` token ids; the model reads the first ``T`` and ``L_T``
            scores the last one.

    Example:
        >>> lm_gradient_flow(model, np.stack([vocab.encode(chunk) for chunk in chunks]))
    """
    ids = np.asarray(ids, np.int32)
    if ids.ndim != 2 or ids.shape[1] < 2:
        raise ValueError(f"ids must be (batch, T + 1) with T >= 1, received shape {ids.shape}.")
    stack, logits = model.get_layer("recurrent"), model.get_layer("logits")
    inputs = _encoder(model)(ids[:, :-1])
    target = tf.constant(ids[:, -1])

    def last_step_loss(outputs):
        return keras.losses.sparse_categorical_crossentropy(
            target, tf.cast(logits(outputs[:, -1]), tf.float32), from_logits=True)

    return gradient_norms(stack, inputs, last_step_loss)


def recurrent_singular_values(stack):
    """Largest singular value of every recurrent matrix ``W_h?`` of every layer.

    Example:
        >>> recurrent_singular_values(model.get_layer("recurrent"))
        [{'W_hi': 1.02, 'W_hf': 0.98, 'W_hg': 1.31, 'W_ho': 0.97}]
    """
    out = []
    for rnn in stack.rnns:
        weights = rnn.cell.named_weights()
        out.append({name: float(np.linalg.svd(value, compute_uv=False)[0])
                    for name, value in weights.items()
                    if name.startswith("W_h") and value.ndim == 2})
    return out


def scale_recurrent(stack, scale):
    """Rescales every recurrent matrix so its largest singular value is ``scale``."""
    for rnn in stack.rnns:
        weights = rnn.cell.named_weights()
        rnn.cell.assign_named_weights({
            name: value * (scale / np.linalg.svd(value, compute_uv=False)[0])
            for name, value in weights.items() if name.startswith("W_h") and value.ndim == 2})


def fresh_model(cell, vocab_size, units=128, depth=1, seed=0, recurrent_scale=None):
    """An untrained char LM (one-hot input) built with ``seed``; optionally rescaled."""
    from seqkit.builders import build_many_to_many

    keras.utils.set_random_seed(seed)
    model = build_many_to_many(cell, units, vocab_size, depth=depth, compile=False)
    if recurrent_scale is not None:
        scale_recurrent(model.get_layer("recurrent"), recurrent_scale)
    return model


def compare_cells(cells, ids, vocab_size, units=128, depth=1, seed=0, recurrent_scale=None):
    """``lm_gradient_flow`` of fresh models of several cells on the same batch and seed.

    Returns:
        ``{cell: {"h": (layers, T), "c"?: ..., "loss": float, "sigma_max": [...]}}``.
    """
    results = {}
    for cell in cells:
        model = fresh_model(cell, vocab_size, units, depth, seed, recurrent_scale)
        flow = lm_gradient_flow(model, ids)
        flow["sigma_max"] = recurrent_singular_values(model.get_layer("recurrent"))
        results[cell] = flow
    return results


def train_and_watch(model, batches, steps, learning_rate=0.1, clipnorm=None):
    """Trains a char LM with SGD on ``(batch, T + 1)`` id arrays, recording per step the loss
    and the gradient's global norm before clipping; ``clipnorm`` clips it (Keras'
    ``global_clipnorm``).

    Returns:
        ``{"loss": [...], "grad_norm": [...]}`` (``nan`` once training has diverged).

    Example:
        >>> train_and_watch(fresh_model("vanilla", 80, recurrent_scale=3.0), batches, 100,
        ...                 clipnorm=1.0)
    """
    optimizer = keras.optimizers.SGD(learning_rate, global_clipnorm=clipnorm)
    variables = model.trainable_variables
    history = {"loss": [], "grad_norm": []}
    for step in range(steps):
        ids = np.asarray(batches[step % len(batches)], np.int32)
        with tf.GradientTape() as tape:
            logits = model({"tokens": ids[:, :-1]})["logits"]
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                ids[:, 1:], tf.cast(logits, tf.float32), from_logits=True))
        grads = tape.gradient(loss, variables)
        norm = float(tf.linalg.global_norm(grads))
        history["loss"].append(float(loss))
        history["grad_norm"].append(norm)
        if not np.isfinite(norm) or not np.isfinite(float(loss)):
            break
        optimizer.apply(grads, variables)
    return history
