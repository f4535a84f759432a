"""Sampling from character (or token) language models, the whole loop in one tf.function.

Example:
    >>> sampler = Sampler(model, vocab)
    >>> print(sampler.sample("ROMEO:", length=200, temperature=0.8, top_k=10, seed=1))
"""

from __future__ import annotations

import numbers

import numpy as np
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
        jit_compile: Compile the generation loop with XLA (faster at batch 1 on CPU).

    Example:
        >>> Sampler(model, vocab).sample("ROMEO.", length=100, temperature=0.8)
    """

    def __init__(self, model, vocab, jit_compile=False):
        names = {layer.name for layer in model.layers}
        self.encoder = model.get_layer("embedding" if "embedding" in names else "one_hot")
        self.stack = model.get_layer("recurrent")
        self.logits = model.get_layer("logits")
        self.vocab = vocab
        self.generate_ids = tf.function(
            self._generate, jit_compile=bool(jit_compile),
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
            # The k-th largest logit through a sort: XLA needs top_k's k to be a constant.
            k = tf.clip_by_value(top_k, 1, tf.shape(logits)[-1])
            kth = tf.gather(tf.sort(logits, direction="DESCENDING"), k - 1, axis=-1)
            logits = tf.where((top_k > 0) & (logits < kth[:, None]), -1e9, logits)
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


def load_sampler(run_dir, jit_compile=False):
    """A ``Sampler`` for the model and vocabulary saved in a run directory.

    Args:
        run_dir: A run directory holding ``model.keras`` and ``vocab.json``.
        jit_compile: Compile the generation loop with XLA (see ``Sampler``).
    """
    from pathlib import Path

    import keras

    import seqkit.layers  # noqa: F401  (registers the serialisable layers)
    from seqkit.data import CharVocab

    run_dir = Path(run_dir)
    missing = [name for name in ("model.keras", "vocab.json") if not (run_dir / name).exists()]
    if missing:
        raise ValueError(f"{str(run_dir)!r} is not a trained run directory: missing {missing}.")
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    return Sampler(model, CharVocab.load(run_dir / "vocab.json"), jit_compile=jit_compile)


class SequenceDecoder:
    """Greedy and beam-search decoding for captioners and seq2seq translators.

    Works on models from ``build_one_to_many`` and ``build_seq2seq`` by reusing their
    layers step by step: encode once, then ``step(tokens, states)`` per output word.

    Args:
        model: A captioner or seq2seq model.
        start_id, end_id: Ids of ``<START>`` and ``<END>``.
        max_length: Most tokens produced per sequence (``<END>`` excluded).

    Example:
        >>> decoder = SequenceDecoder(model, start_id=1, end_id=2, max_length=20)
        >>> decoder.beam({"source": source_ids[:1]}, width=4)
    """

    def __init__(self, model, start_id, end_id, max_length=30):
        names = {layer.name for layer in model.layers}
        self.model, self.names = model, names
        self.kind = "seq2seq" if "encoder" in names else "caption"
        self.start_id, self.end_id = int(start_id), int(end_id)
        _check("max_length", max_length, numbers.Integral, 1)
        self.max_length = int(max_length)

    def encode(self, inputs):
        """Returns (initial states, context) for a batch of inputs."""
        get = self.model.get_layer
        if self.kind == "seq2seq":
            source = tf.convert_to_tensor(inputs["source"], tf.int32)
            mask = source != 0
            encoded, *states = get("encoder")(get("source_embedding")(source), mask=mask)
            return list(states), {"encoded": encoded, "mask": mask}
        v = get("image_encoder")(tf.convert_to_tensor(inputs["image"]))
        batch = tf.shape(v)[0]
        if "condition" in self.names:
            return get("recurrent").initial_state(batch), {"v": v}
        count = len(get("recurrent").initial_state(1))
        return [get(f"initial_state_{k}")(v) for k in range(count)], {"v": v}

    def step(self, tokens, states, context):
        """One output step: token ids (batch,) -> log-probabilities (batch, vocab), states."""
        get = self.model.get_layer
        tokens = tf.convert_to_tensor(tokens, tf.int32)
        if self.kind == "seq2seq":
            y = get("target_embedding")(tokens[:, None])[:, 0]
            out, states = get("decoder").step(y, states)
            if "attention" in self.names:
                attended = get("attention")([out[:, None], context["encoded"]],
                                            mask=[None, context["mask"]])[:, 0]
                out = get("attention_vector")(tf.concat([out, attended], -1))
        else:
            x = get("embedding")(tokens[:, None])[:, 0]
            if "condition" in self.names:
                x = tf.concat([x, tf.cast(context["v"], x.dtype)], -1)
            out, states = get("recurrent").step(x, states)
        logits = tf.cast(get("logits")(out), tf.float32)
        return tf.nn.log_softmax(logits), states

    def greedy(self, inputs):
        """The most likely token at each step, for a batch; returns lists of ids."""
        states, context = self.encode(inputs)
        batch = int(states[0].shape[0])
        tokens = np.full(batch, self.start_id, dtype=np.int32)
        outputs, done = [[] for _ in range(batch)], np.zeros(batch, bool)
        for _ in range(self.max_length):
            log_probs, states = self.step(tokens, states, context)
            tokens = np.argmax(log_probs.numpy(), -1).astype(np.int32)
            for row, token in enumerate(tokens):
                if not done[row]:
                    if token == self.end_id:
                        done[row] = True
                    else:
                        outputs[row].append(int(token))
            if done.all():
                break
        return outputs

    def beam(self, inputs, width=4):
        """Beam search with ``width`` beams, one example at a time; returns lists of ids."""
        _check("width", width, numbers.Integral, 1)
        first = next(iter(inputs.values()))
        return [self._beam_one({k: v[i:i + 1] for k, v in inputs.items()}, int(width))
                for i in range(len(first))]

    def _beam_one(self, inputs, width):
        states, context = self.encode(inputs)
        beams = [(0.0, [])]
        finished = []
        for _ in range(self.max_length):
            count = len(beams)
            tiled = {k: tf.repeat(v, count, axis=0) for k, v in context.items()}
            last = np.array([seq[-1] if seq else self.start_id for _, seq in beams], np.int32)
            log_probs, new_states = self.step(last, states, tiled)
            scores = np.array([s for s, _ in beams])[:, None] + log_probs.numpy()
            order = np.argsort(-scores, axis=None)[:width]
            alive, keep = [], []
            for flat in order:
                row, token = divmod(int(flat), scores.shape[1])
                sequence = beams[row][1] + [token]
                if token == self.end_id:
                    finished.append((float(scores[row, token]), sequence[:-1]))
                else:
                    alive.append((float(scores[row, token]), sequence))
                    keep.append(row)
            beams = alive
            if not alive or (finished and max(s for s, _ in finished) >= alive[0][0]):
                break
            states = [tf.gather(s, keep) for s in new_states]
        return max(finished + beams, key=lambda item: item[0])[1]
