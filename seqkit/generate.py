"""Sampling from character (or token) language models, the whole loop in one tf.function.

Example:
    >>> sampler = Sampler(model, vocab)
    >>> print(sampler.sample("ROMEO:", length=200, temperature=0.8, top_k=10, seed=1))
"""

from __future__ import annotations

import numbers

import tensorflow as tf


def _check(name, value, kind, minimum, inclusive=True):
    ok = isinstance(value, kind) and not isinstance(value, bool)
    ok = ok and (value >= minimum if inclusive else value > minimum)
    if not ok:
        relation = ">=" if inclusive else ">"
        raise ValueError(
            f"{name} must be a number {relation} {minimum}, received {name}={value!r}.")
    return value


class Sampler:
    """Generates text from a many-to-many model (``seqkit.builders.build_many_to_many``).

    The model's own layers are reused (``embedding`` or ``one_hot``, ``recurrent``,
    ``logits``), so a sampler built on a model being trained samples its current
    weights. Priming and generation run inside one compiled ``tf.function``.

    Args:
        model: A model from ``build_many_to_many`` (stateful or not).
        vocab: The ``CharVocab`` the model was trained with.
    """

    def __init__(self, model, vocab):
        names = {layer.name for layer in model.layers}
        self.encoder = model.get_layer("embedding" if "embedding" in names else "one_hot")
        self.stack = model.get_layer("recurrent")
        self.logits = model.get_layer("logits")
        self.vocab = vocab
        self.generate_ids = tf.function(
            self._generate,
            input_signature=[
                tf.TensorSpec([None], tf.int32, name="prime_ids"),
                tf.TensorSpec([], tf.int32, name="length"),
                tf.TensorSpec([], tf.float32, name="temperature"),
                tf.TensorSpec([], tf.int32, name="top_k"),
                tf.TensorSpec([2], tf.int32, name="seed"),
            ],
        )

    def step(self, token_ids, states):
        """One step: token ids ``(batch,)`` and states -> logits ``(batch, vocab)``, states."""
        x = self.encoder(token_ids[:, None])[:, 0]
        out, states = self.stack.step(x, states)
        return tf.cast(self.logits(out), tf.float32), states

    def _generate(self, prime_ids, length, temperature, top_k, seed):
        states = self.stack.initial_state(1)
        for i in tf.range(tf.shape(prime_ids)[0] - 1):
            _, states = self.step(prime_ids[i][None], states)
        token = prime_ids[-1][None]
        out = tf.TensorArray(tf.int32, size=length)
        for i in tf.range(length):
            logits, states = self.step(token, states)
            logits = logits / tf.maximum(temperature, 1e-6)
            if top_k > 0:
                kth = tf.math.top_k(logits, k=tf.minimum(top_k, tf.shape(logits)[-1])).values
                logits = tf.where(logits < kth[:, -1:], -1e9, logits)
            token = tf.cast(
                tf.random.stateless_categorical(logits, 1, seed=seed + tf.stack([0, i]))[:, 0],
                tf.int32)
            out = out.write(i, token[0])
        return out.stack()

    def sample(self, prime="\n", length=200, temperature=1.0, top_k=0, seed=0):
        """Returns ``length`` generated characters following ``prime`` (prime excluded).

        Args:
            prime: Text to condition on (unseen characters map to the OOV id).
            length: Number of characters to generate.
            temperature: Divides the logits; lower is more conservative.
            top_k: Sample among the ``top_k`` likeliest characters (0: all).
            seed: Integer seed; the same seed gives the same text.
        """
        _check("length", length, numbers.Integral, 0)
        _check("temperature", temperature, numbers.Real, 0, inclusive=False)
        _check("top_k", top_k, numbers.Integral, 0)
        _check("seed", seed, numbers.Integral, 0)
        ids = self.vocab.encode(prime or "\n")
        generated = self.generate_ids(
            tf.constant(ids, tf.int32), tf.constant(length, tf.int32),
            tf.constant(temperature, tf.float32), tf.constant(top_k, tf.int32),
            tf.constant([seed % (2**31 - 1), 0], tf.int32))
        return self.vocab.decode(generated.numpy())


def load_sampler(run_dir):
    """A ``Sampler`` for the model and vocabulary saved in a run directory."""
    from pathlib import Path

    import keras

    import seqkit.layers  # noqa: F401  (registers the serialisable layers)
    from seqkit.data import CharVocab

    run_dir = Path(run_dir)
    missing = [name for name in ("model.keras", "vocab.json") if not (run_dir / name).exists()]
    if missing:
        raise ValueError(f"{str(run_dir)!r} is not a trained run directory: missing {missing}.")
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    return Sampler(model, CharVocab.load(run_dir / "vocab.json"))
