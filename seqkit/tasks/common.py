"""Pieces the supervised tasks share: length-bucketed batching and teacher forcing."""

import numpy as np
import tensorflow as tf


def _spec(values):
    if isinstance(values, np.ndarray):
        return tf.TensorSpec(values.shape[1:], tf.as_dtype(values.dtype))
    return tf.TensorSpec([None], tf.int32)


def bucketed(inputs, outputs, batch_size, length_of, shuffle=False, seed=0,
             boundaries=(8, 16, 32, 64)):
    """Batches of variable-length id sequences, bucketed by length so padding stays small.

    Args:
        inputs, outputs: ``{name: list of id lists or array}``, one entry per example.
        batch_size: Examples per batch.
        length_of: Input name whose length picks the bucket.
        shuffle: Reshuffle the examples every epoch (training).

    Example:
        >>> bucketed({"tokens": ids}, {"probabilities": labels}, 32, "tokens")
    """
    count = len(next(iter(inputs.values())))

    def examples():
        for i in range(count):
            yield ({k: np.asarray(v[i], np.int32) for k, v in inputs.items()},
                   {k: np.asarray(v[i], np.int32) for k, v in outputs.items()})

    signature = ({k: _spec(v) for k, v in inputs.items()},
                 {k: _spec(v) for k, v in outputs.items()})
    dataset = tf.data.Dataset.from_generator(examples, output_signature=signature)
    if shuffle:
        dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.bucket_by_sequence_length(
        lambda x, y: tf.shape(x[length_of])[0], list(boundaries),
        [batch_size] * (len(boundaries) + 1))
    return dataset.prefetch(tf.data.AUTOTUNE)


def shifted(sequences):
    """Teacher forcing: inputs drop the last token, targets drop the first."""
    return [s[:-1] for s in sequences], [s[1:] for s in sequences]


def labels_of(dataset, output):
    """The labels of a (deterministic) dataset, in its order."""
    return np.concatenate([y[output].numpy() for _, y in dataset])
