"""Saliency with tf-keras-vis (vanilla Saliency and SmoothGrad) for sequence models.

* Text classifiers (``build_many_to_one`` on tokens): integer ids have no gradient, so
  the gradient is taken at the embedding output. A Functional sub-model
  ``embedded tokens -> recurrent -> probabilities`` (the trained layers themselves) is
  handed to ``tf_keras_vis.saliency.Saliency``; a token's saliency is the L2 norm over
  the embedding dimensions of ``|d score / d embedding|``.
* Captioners (``build_one_to_many``): the caption is fixed (greedy decoding by
  default) and a Functional sub-model ``image -> logits`` holds the caption tokens as a
  constant; the score of word ``t`` is its logit at step ``t``, and the map is
  ``|d score / d pixel|`` (max over channels).
* Frame classifiers (``sequence_classify``, float frames): saliency of each input value.

Example:
    >>> result = token_saliency(run.model, run.vocab, "what a lovely day")
    >>> list(zip(result["tokens"], result["saliency"].round(2)))
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def _saliency(model, score, seed, smooth_samples=0, smooth_noise=0.1):
    from tf_keras_vis.saliency import Saliency

    return np.asarray(Saliency(model, clone=False)(
        score, seed, smooth_samples=smooth_samples, smooth_noise=smooth_noise, keepdims=True,
        normalize_map=False))


def _unit_max(values):
    values = np.asarray(values, np.float64)
    top = values.max() if values.size else 0.0
    return values / top if top > 0 else values


def embedding_submodel(model):
    """``embedded tokens (batch, T, E) -> probabilities`` from a token classifier's layers."""
    names = {layer.name for layer in model.layers}
    if not {"embedding", "recurrent", "probabilities"} <= names:
        raise ValueError(f"Model {model.name!r} is not a token classifier from "
                         f"build_many_to_one (its layers: {sorted(names)}).")
    width = model.get_layer("embedding").output_dim
    embedded = keras.Input((None, width), name="embedded")
    features = model.get_layer("recurrent")(embedded)
    probabilities = model.get_layer("probabilities")(features)
    return keras.Model(embedded, probabilities, name=f"{model.name}_from_embedding")


def token_saliency(model, vocab, text, class_index=None, smooth_samples=20, smooth_noise=0.1):
    """Which tokens drove a text classifier's prediction (Saliency and SmoothGrad).

    Args:
        model: A ``build_many_to_one`` model on tokens.
        vocab: Its ``WordVocab``.
        text: The text to explain.
        class_index: Class whose probability is explained (default: the predicted one).
        smooth_samples, smooth_noise: SmoothGrad's samples and noise (fraction of the
            embedding's value range).

    Returns:
        ``{"tokens", "ids", "probabilities", "class_index", "saliency", "smoothgrad"}``;
        the maps are one value per token, scaled so the largest is 1.
    """
    from tf_keras_vis.utils.scores import CategoricalScore

    from seqkit.data.words import tokenize

    tokens = tokenize(text)
    if not tokens:
        raise ValueError(f"text has no words to explain, received {text!r:.80}.")
    ids = np.asarray([vocab.encode(text)], np.int32)
    probabilities = model({"tokens": ids}, training=False)["probabilities"].numpy()[0]
    count = len(probabilities)
    if class_index is None:
        class_index = int(np.argmax(probabilities))
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) \
            or not 0 <= class_index < count:
        raise ValueError(f"class_index must be an int in [0, {count}), received "
                         f"{class_index!r}.")
    embedded = model.get_layer("embedding")(ids).numpy()
    sub = embedding_submodel(model)
    score = CategoricalScore([int(class_index)])
    maps = {}
    for key, samples in (("saliency", 0), ("smoothgrad", smooth_samples)):
        grads = _saliency(sub, score, embedded, samples, smooth_noise)[0]
        maps[key] = _unit_max(np.linalg.norm(grads, axis=-1))
    return {"tokens": tokens, "ids": ids[0], "probabilities": probabilities,
            "class_index": int(class_index), **maps}


class ConstantTokens(keras.layers.Layer):
    """Outputs fixed token ids ``(batch, T)``, the batch size taken from its input."""

    def __init__(self, ids, **kwargs):
        super().__init__(**kwargs)
        self.ids = np.asarray(ids, np.int32).reshape(1, -1)

    def call(self, reference):
        batch = keras.ops.shape(reference)[0]
        return keras.ops.tile(keras.ops.convert_to_tensor(self.ids), [batch, 1])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.ids.shape[1])


def caption_submodel(model, token_ids):
    """``image -> logits (batch, T, vocab)`` of a captioner with the tokens held fixed."""
    names = {layer.name for layer in model.layers}
    if not {"image_encoder", "embedding", "recurrent", "logits"} <= names:
        raise ValueError(f"Model {model.name!r} is not a captioner from build_one_to_many "
                         f"(its layers: {sorted(names)}).")
    get = model.get_layer
    image = keras.Input(model.input["image"].shape[1:], name="image")
    v = get("image_encoder")(image)
    x = get("embedding")(ConstantTokens(token_ids, name="caption_tokens")(image))
    if "condition" in names:
        y = get("recurrent")(get("condition")([x, v]))
    else:
        count = sum(1 for n in names if n.startswith("initial_state_"))
        y = get("recurrent")(x, initial_state=[get(f"initial_state_{k}")(v)
                                               for k in range(count)])
    return keras.Model(image, get("logits")(y), name=f"{model.name}_pixels")


def pixel_saliency(model, vocab, image, caption_ids=None, smooth_samples=20,
                   smooth_noise=0.1, max_length=20):
    """Which pixels drove each word of a caption (Saliency and SmoothGrad per word).

    Args:
        model: A ``build_one_to_many`` captioner.
        vocab: Its ``WordVocab``.
        image: One image ``(H, W, C)`` (uint8 or float, the model's input scale).
        caption_ids: Word ids to explain (default: the greedy caption).
        smooth_samples, smooth_noise: SmoothGrad's samples and noise.
        max_length: Longest greedy caption.

    Returns:
        ``{"image", "words", "saliency": (words, H, W), "smoothgrad": (words, H, W)}``,
        each map scaled so its largest value is 1.
    """
    from seqkit.generate import SequenceDecoder

    image = np.asarray(image, np.float32)
    expected = tuple(model.input["image"].shape[1:])
    if image.ndim == 2 and len(expected) == 3:
        image = image[..., None]
    if image.ndim == 3 and image.shape[-1] != expected[-1] and expected[-1] == 1:
        image = image.mean(axis=-1, keepdims=True)              # colour -> grey
    if image.ndim == 3 and image.shape[:2] != expected[:2]:
        image = tf.image.resize(image, expected[:2]).numpy()
    if image.shape != expected:
        raise ValueError(f"image must have shape {expected}, received {image.shape}.")
    if caption_ids is None:
        decoder = SequenceDecoder(model, vocab.start_id, vocab.end_id, max_length)
        caption_ids = decoder.greedy({"image": image[None]})[0]
    caption_ids = [int(i) for i in caption_ids]
    if not caption_ids:
        raise ValueError("The caption is empty: nothing to explain (the model ended it at "
                         "once); pass caption_ids.")
    tokens = [vocab.start_id, *caption_ids[:-1]]
    sub = caption_submodel(model, tokens)
    # One batch row per word: row t scores word t at step t, so one gradient call gives
    # every word's map (rows do not interact).
    indices = tf.constant([[t, t, word] for t, word in enumerate(caption_ids)], tf.int32)

    def score(logits):
        return tf.gather_nd(logits, indices)

    seed = np.repeat(image[None], len(caption_ids), axis=0)
    maps = {key: np.stack([_unit_max(m) for m in np.max(
        _saliency(sub, score, seed, samples, smooth_noise), axis=-1)])
        for key, samples in (("saliency", 0), ("smoothgrad", smooth_samples))}
    return {"image": image, "words": [vocab.words[i] for i in caption_ids],
            "ids": caption_ids, **maps}


def frame_saliency(model, frames, class_index=None, smooth_samples=20, smooth_noise=0.1):
    """Saliency of every input value of a frame classifier (e.g. image rows as steps).

    Returns:
        ``{"frames", "probabilities", "class_index", "saliency", "smoothgrad"}`` with
        maps shaped like ``frames`` ``(T, width)``, scaled so the largest is 1.
    """
    from tf_keras_vis.utils.scores import CategoricalScore

    frames = np.asarray(frames, np.float32)
    if frames.ndim != 2:
        raise ValueError(f"frames must be (T, width), received shape {frames.shape}.")
    probabilities = model({"frames": frames[None]}, training=False)["probabilities"]
    probabilities = np.asarray(probabilities)[0]
    if class_index is None:
        class_index = int(np.argmax(probabilities))
    score = CategoricalScore([int(class_index)])
    sub = keras.Model(model.input["frames"], model.output["probabilities"])
    maps = {key: _unit_max(_saliency(sub, score, tf.constant(frames[None]), samples,
                                     smooth_noise)[0])
            for key, samples in (("saliency", 0), ("smoothgrad", smooth_samples))}
    return {"frames": frames, "probabilities": probabilities, "class_index": int(class_index),
            **maps}
