"""Character vocabulary and truncated-BPTT batch streams for character LMs.

Example:
    >>> from seqkit.data import CharVocab, load_text, stream_batches
    >>> text = load_text("shakespeare")
    >>> vocab = CharVocab.from_text(text)
    >>> ds = stream_batches(vocab.encode(text), batch_size=32, seq_length=100)
    >>> x, y = next(iter(ds))  # both int32, shape (32, 100); y is x shifted by one
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

OOV_ID = 0
"""Id of characters missing from the vocabulary."""

REPLACEMENT_CHAR = "\ufffd"
_FORMAT = "seqkit.CharVocab"


class CharVocab:
    """A character vocabulary: id 0 is out-of-vocabulary, ids 1..n the sorted characters.

    Characters are Unicode code points, the same units as Python's ``str``
    and ``tf.strings.unicode_split(s, "UTF-8")``. In a model graph the
    vocabulary is a ``keras.layers.StringLookup`` (:meth:`lookup_layer`) and
    its inverse (:meth:`inverse_layer`); :meth:`encode` and :meth:`decode` do
    the same mapping in NumPy, fast enough for whole corpora.

    Args:
        chars: the vocabulary, distinct one-character strings; kept in the
            given order (``from_text`` sorts them).

    Example:
        >>> vocab = CharVocab.from_text("hello\\n")
        >>> vocab.chars
        ['\\n', 'e', 'h', 'l', 'o']
        >>> vocab.encode("hole!").tolist()
        [3, 5, 4, 2, 0]
        >>> vocab.decode([3, 2, 4, 4, 5])
        'hello'
    """

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if not chars or bad:
            raise ValueError(
                "chars must be a non-empty list of one-character strings, "
                f"received {chars[:20]!r}" + (f" (bad entries: {bad[:5]!r})" if bad else "")
            )
        if len(set(chars)) != len(chars):
            dupes = sorted({c for c in chars if chars.count(c) > 1})
            raise ValueError(f"chars must be distinct, received duplicates {dupes!r}")
        self._chars = chars
        codes = np.array([ord(c) for c in chars], dtype=np.int64)
        self._order = np.argsort(codes)
        self._sorted_codes = codes[self._order]
        self._table = np.array([self.oov_char, *chars], dtype=object)

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """Build the vocabulary of the distinct characters of ``text``, sorted.

        Args:
            text: the training text.

        Raises:
            ValueError: ``text`` is empty or not a string.
        """
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty str, received {text!r:.80}")
        return cls(sorted(set(text)))

    @property
    def chars(self) -> list[str]:
        """The characters, in id order (id ``i + 1`` is ``chars[i]``)."""
        return list(self._chars)

    @property
    def size(self) -> int:
        """Number of ids, including the out-of-vocabulary id 0."""
        return len(self._chars) + 1

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and other._chars == self._chars

    def __repr__(self) -> str:
        return f"CharVocab(size={self.size}, chars={''.join(self._chars)[:40]!r})"

    @property
    def oov_char(self) -> str:
        """What :meth:`decode` gives for id 0: ``'\\ufffd'``, or ``''`` if that is a vocabulary
        character."""
        return "" if REPLACEMENT_CHAR in self._chars else REPLACEMENT_CHAR

    def encode(self, text: str) -> np.ndarray:
        """Map each character of ``text`` to its id (unknown characters to 0).

        Args:
            text: any string.

        Returns:
            ``int32`` array of shape ``(len(text),)``.
        """
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, received {type(text).__name__}: {text!r:.80}")
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        codes = codes.astype(np.int64)
        pos = np.searchsorted(self._sorted_codes, codes)
        pos = np.minimum(pos, len(self._sorted_codes) - 1)
        found = self._sorted_codes[pos] == codes
        ids = np.where(found, self._order[pos] + 1, OOV_ID)
        return ids.astype(np.int32)

    def decode(self, ids: Iterable[int] | np.ndarray | tf.Tensor) -> str:
        """Map ids back to text; id 0 and ids outside ``[0, size)`` give :attr:`oov_char`.

        Args:
            ids: integer ids, any shape (flattened in row-major order).
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        ids = np.where((ids < 0) | (ids >= self.size), OOV_ID, ids)
        return "".join(self._table[ids])

    def lookup_layer(self, name: str | None = None) -> keras.layers.StringLookup:
        """A new Keras layer mapping ``tf.string`` characters to ids (``int64``).

        Split text into characters first, in the graph with
        ``tf.strings.unicode_split(text, "UTF-8")``.

        Example:
            >>> vocab = CharVocab.from_text("hello")
            >>> vocab.lookup_layer()(tf.strings.unicode_split("hole!", "UTF-8")).numpy().tolist()
            [2, 4, 3, 1, 0]
        """
        return keras.layers.StringLookup(
            vocabulary=self._chars, num_oov_indices=1, mask_token=None, name=name
        )

    def inverse_layer(self, name: str | None = None) -> keras.layers.StringLookup:
        """A new Keras layer mapping ids back to ``tf.string`` characters.

        Id 0 and out-of-range ids give :attr:`oov_char`; join the characters
        with ``tf.strings.reduce_join(chars, axis=-1)``.
        """
        return keras.layers.StringLookup(
            vocabulary=self._chars,
            num_oov_indices=1,
            mask_token=None,
            oov_token=self.oov_char,
            invert=True,
            name=name,
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as UTF-8 JSON (``{"format", "chars"}``).

        Args:
            path: file to write.
        """
        payload = {"format": _FORMAT, "version": 1, "chars": self._chars}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False, indent=0)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharVocab:
        """Read a vocabulary written by :meth:`save`.

        Raises:
            ValueError: the file is not a saved ``CharVocab``.
        """
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a saved {_FORMAT} file")
        return cls(payload["chars"])


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, received {value!r}")
    return int(value)


def steps_per_epoch(num_ids: int, batch_size: int, seq_length: int) -> int:
    """Number of ``(x, y)`` batches :func:`stream_batches` makes from ``num_ids`` ids.

    Each of the ``batch_size`` streams gets ``(num_ids - 1) // batch_size``
    characters (one id is kept for the last target), cut into windows of
    ``seq_length``. Returns 0 when the text is too short for one batch.

    Example:
        >>> steps_per_epoch(1001, batch_size=10, seq_length=25)
        4
    """
    batch_size = _check_int("batch_size", batch_size, 1)
    seq_length = _check_int("seq_length", seq_length, 1)
    num_ids = _check_int("num_ids", num_ids, 0)
    return max(0, (num_ids - 1) // batch_size // seq_length)


def stream_batches(
    ids: Sequence[int] | np.ndarray | tf.Tensor,
    batch_size: int,
    seq_length: int,
    start_step: int = 0,
) -> tf.data.Dataset:
    """Batches for truncated BPTT with states carried from batch to batch.

    The ids are cut into ``batch_size`` contiguous streams, one per batch row;
    batch ``k`` holds characters ``[k * seq_length, (k + 1) * seq_length)`` of
    every stream, so row ``b`` of batch ``k + 1`` continues exactly where row
    ``b`` of batch ``k`` ended. ``y`` is ``x`` shifted by one character. The
    remainder that does not fill a whole batch is dropped; the order is fixed
    (never shuffle it: that would break the streams).

    Args:
        ids: 1-D integer ids of the whole text (``CharVocab.encode``).
        batch_size: number of parallel streams (batch rows).
        seq_length: characters per row per batch (BPTT truncation length).
        start_step: first batch to yield, in ``[0, steps_per_epoch)``, to
            resume an interrupted epoch at the same data position (reset the
            model states first). The dataset then holds only the rest of that
            epoch; use ``start_step=0`` for the following epochs.

    Returns:
        A prefetched ``tf.data.Dataset`` of ``(x, y)``, both ``int32`` with
        static shape ``(batch_size, seq_length)``.

    Raises:
        ValueError: bad sizes, ids not 1-D, ``start_step`` out of range, or a
            text too short for one batch (``batch_size * seq_length + 1`` ids).

    Example:
        >>> ds = stream_batches(np.arange(101), batch_size=2, seq_length=5)
        >>> [x.numpy().tolist() for x, _ in ds.take(2)]
        [[[0, 1, 2, 3, 4], [50, 51, 52, 53, 54]], [[5, 6, 7, 8, 9], [55, 56, 57, 58, 59]]]
    """
    batch_size = _check_int("batch_size", batch_size, 1)
    seq_length = _check_int("seq_length", seq_length, 1)
    ids = np.asarray(ids)
    if ids.ndim != 1 or not (ids.size == 0 or np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(
            f"ids must be a 1-D array of integers, received dtype {ids.dtype} shape {ids.shape}"
        )
    steps = steps_per_epoch(ids.size, batch_size, seq_length)
    if steps == 0:
        raise ValueError(
            f"text too short: batch_size={batch_size} x seq_length={seq_length} needs at "
            f"least {batch_size * seq_length + 1} characters, received {ids.size}"
        )
    start_step = _check_int("start_step", start_step, 0)
    if start_step >= steps:
        raise ValueError(
            f"start_step must be an int in [0, {steps}) (steps per epoch), received "
            f"{start_step!r}; for a global step use global_step % steps_per_epoch"
        )
    stream_len = steps * seq_length
    used = batch_size * stream_len
    ids = ids.astype(np.int32, copy=False)

    def windows(flat: np.ndarray) -> np.ndarray:
        # (batch, steps, seq) -> (steps, batch, seq): batch k holds window k of every stream.
        grid = flat.reshape(batch_size, steps, seq_length).transpose(1, 0, 2)
        return np.ascontiguousarray(grid[start_step:])

    x = windows(ids[:used])
    y = windows(ids[1 : used + 1])
    return tf.data.Dataset.from_tensor_slices((x, y)).prefetch(tf.data.AUTOTUNE)


def skip_batches(dataset: tf.data.Dataset, n: int) -> tf.data.Dataset:
    """Skip the first ``n`` batches of a dataset (resume at a data position).

    With :func:`stream_batches` prefer its ``start_step`` argument, which
    slices the arrays instead of reading and dropping batches.

    Args:
        dataset: any dataset.
        n: number of elements to skip, ``>= 0``.
    """
    return dataset.skip(_check_int("n", n, 0))
