"""Evaluation metrics for the seqkit recipes.

* Translation / captioning: corpus-level :func:`bleu` and :func:`chrf`
  (computed by `sacrebleu <https://github.com/mjpost/sacrebleu>`_, so the
  numbers are the standard, comparable ones), and :func:`exact_match`.
* Character language models: :func:`perplexity` and :func:`bits_per_char`
  from a mean cross-entropy in nats (what Keras' sparse categorical
  cross-entropy reports), and their inverse :func:`nats_from_bits`.
* Classification: :func:`accuracy` and the :func:`majority_baseline`
  accuracy a model has to beat.

Texts may be ``str``, ``bytes`` (decoded as UTF-8, e.g. from
``tf.Tensor.numpy()``), or NumPy / TensorFlow arrays of either.

Example:
    >>> bleu(["the cat sat on the mat"], ["the cat sat on the mat"])
    100.0
    >>> round(bits_per_char(1.0), 4)
    1.4427
    >>> majority_baseline([0, 0, 1], [0, 1, 1, 1])
    0.25
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "accuracy",
    "bits_per_char",
    "bleu",
    "chrf",
    "exact_match",
    "majority_baseline",
    "majority_class",
    "nats_from_bits",
    "perplexity",
]

BLEU_TOKENIZERS = ("13a", "none", "intl", "char", "zh", "ja-mecab", "ko-mecab", "flores101",
                   "flores200", "spm", "spBLEU-1K")  # fmt: skip
"""Tokenizer names accepted by :func:`bleu` (sacrebleu's; the last six need extras or downloads)."""


# --------------------------------------------------------------------------- input helpers


def _as_text(value, what: str) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise TypeError(
        f"{what} must be a str or bytes, received {type(value).__name__}: {value!r:.80}"
    )


def _as_list(values, what: str) -> list:
    """Turn a sequence / NumPy array / tf.Tensor into a Python list (1 level)."""
    if hasattr(values, "numpy") and callable(values.numpy):  # tf.Tensor
        values = values.numpy()
    if isinstance(values, np.ndarray):
        return list(values)
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(
            f"{what} must be a sequence of texts (one per segment), received "
            f"{type(values).__name__}: {values!r:.80}"
        )
    return list(values)


def _texts(values, what: str) -> list[str]:
    items = _as_list(values, what)
    return [_as_text(v, f"each of {what}") for v in items]


def _references(references, num_hypotheses: int) -> list[list[str | None]]:
    """Per-segment references -> sacrebleu's reference streams.

    ``references[i]`` is one string or a sequence of strings for hypothesis
    ``i``; segments may have different numbers of references (the missing
    ones become ``None``, which sacrebleu skips).
    """
    per_segment = _as_list(references, "references")
    if len(per_segment) != num_hypotheses:
        raise ValueError(
            f"references must have one entry per hypothesis: received {len(per_segment)} "
            f"references for {num_hypotheses} hypotheses"
        )
    lists = []
    for i, refs in enumerate(per_segment):
        if isinstance(refs, (str, bytes, np.str_, np.bytes_)):
            lists.append([_as_text(refs, "a reference")])
        else:
            refs = [_as_text(r, "a reference") for r in _as_list(refs, f"references[{i}]")]
            if not refs:
                raise ValueError(f"references[{i}] is empty; give at least one reference")
            lists.append(refs)
    width = max(len(refs) for refs in lists)
    return [[refs[j] if j < len(refs) else None for refs in lists] for j in range(width)]


def _check_pairs(hypotheses, references) -> tuple[list[str], list[list[str | None]]]:
    hyps = _texts(hypotheses, "hypotheses")
    if not hyps:
        raise ValueError("hypotheses is empty; give at least one hypothesis")
    return hyps, _references(references, len(hyps))


# --------------------------------------------------------------------------- translation


def bleu(
    hypotheses: Sequence[str],
    references: Sequence[str | Sequence[str]],
    *,
    tokenize: str = "13a",
    lowercase: bool = False,
    smooth_method: str = "exp",
) -> float:
    """Corpus-level BLEU (Papineni et al. 2002) as sacrebleu computes it, in [0, 100].

    N-gram counts (up to 4-grams) are summed over the whole corpus before the
    precisions are taken, as in every published BLEU; it is not the mean of
    sentence scores. A corpus whose hypotheses are all shorter than four
    tokens has no 4-gram and scores 0 even when it is perfect.

    Args:
        hypotheses: one system output per segment.
        references: for each hypothesis, its reference: a string, or a
            sequence of strings when a segment has several references (their
            number may differ between segments).
        tokenize: sacrebleu tokenizer, one of :data:`BLEU_TOKENIZERS`;
            ``"13a"`` (the WMT standard) by default, ``"char"`` for languages
            without spaces.
        lowercase: compare case-insensitively.
        smooth_method: ``"exp"`` (sacrebleu's default), ``"floor"``,
            ``"add-k"`` or ``"none"``.

    Returns:
        BLEU as a float in [0, 100].

    Raises:
        ValueError: no hypotheses, a different number of references and
            hypotheses, or an unknown ``tokenize`` / ``smooth_method``.
        TypeError: a text that is not ``str`` / ``bytes``.

    Example:
        >>> bleu(["the cat is on the mat"], [["the cat is on the mat", "a cat on a mat"]])
        100.0
    """
    from sacrebleu.metrics import BLEU

    hyps, streams = _check_pairs(hypotheses, references)
    if tokenize not in BLEU_TOKENIZERS:
        raise ValueError(f"tokenize must be one of {list(BLEU_TOKENIZERS)}, received {tokenize!r}")
    if smooth_method not in BLEU.SMOOTH_DEFAULTS:
        raise ValueError(
            f"smooth_method must be one of {sorted(BLEU.SMOOTH_DEFAULTS)}, "
            f"received {smooth_method!r}"
        )
    metric = BLEU(tokenize=tokenize, lowercase=lowercase, smooth_method=smooth_method)
    return _clip_score(metric.corpus_score(hyps, streams).score)


def chrf(
    hypotheses: Sequence[str],
    references: Sequence[str | Sequence[str]],
    *,
    char_order: int = 6,
    word_order: int = 0,
    beta: int = 2,
    lowercase: bool = False,
) -> float:
    """Corpus-level chrF (Popović 2015) as sacrebleu computes it, in [0, 100].

    Character n-gram F-score, far less sensitive than BLEU to short outputs
    and to morphology. ``word_order=2`` gives chrF++.

    Args:
        hypotheses: one system output per segment.
        references: for each hypothesis, a string or a sequence of strings.
        char_order: longest character n-gram (6 by default).
        word_order: longest word n-gram; 0 for chrF, 2 for chrF++.
        beta: recall weight of the F-score (2 by default).
        lowercase: compare case-insensitively.

    Returns:
        chrF as a float in [0, 100].

    Example:
        >>> chrf(["abc"], ["abc"])
        100.0
    """
    from sacrebleu.metrics import CHRF

    hyps, streams = _check_pairs(hypotheses, references)
    for name, value, minimum in (("char_order", char_order, 1), ("word_order", word_order, 0),
                                 ("beta", beta, 1)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, received {value!r}")
    metric = CHRF(
        char_order=int(char_order), word_order=int(word_order), beta=int(beta), lowercase=lowercase
    )
    return _clip_score(metric.corpus_score(hyps, streams).score)


def _clip_score(score: float) -> float:
    # sacrebleu computes a perfect BLEU as exp(log(1) ...) = 100.00000000000004
    return float(min(100.0, max(0.0, round(float(score), 10))))


def exact_match(
    hypotheses: Sequence[str],
    references: Sequence[str | Sequence[str]],
    *,
    strip: bool = True,
    lowercase: bool = False,
) -> float:
    """Fraction of hypotheses equal to one of their references, in [0, 1].

    Args:
        hypotheses: one output per segment.
        references: for each hypothesis, a string or a sequence of strings.
        strip: ignore leading/trailing whitespace and collapse inner runs of
            whitespace to one space.
        lowercase: compare case-insensitively.

    Example:
        >>> exact_match(["a b", "c"], ["a  b ", ["d", "c"]])
        1.0
    """
    hyps, streams = _check_pairs(hypotheses, references)

    def norm(text: str) -> str:
        text = " ".join(text.split()) if strip else text
        return text.lower() if lowercase else text

    hits = 0
    for i, hyp in enumerate(hyps):
        refs = {norm(stream[i]) for stream in streams if stream[i] is not None}
        hits += norm(hyp) in refs
    return hits / len(hyps)


# --------------------------------------------------------------------------- language models


def _mean_nats(value) -> float:
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    try:
        nats = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"mean_nats must be a number (mean cross-entropy in nats), received {value!r:.80}"
        ) from None
    if not math.isfinite(nats) or nats < 0:
        raise ValueError(f"mean_nats must be a finite number >= 0, received {value!r}")
    return nats


def perplexity(mean_nats: float) -> float:
    """Perplexity ``exp(mean_nats)`` from a mean cross-entropy in nats per token/character.

    A uniform guess over ``V`` symbols has perplexity ``V``.

    Args:
        mean_nats: mean negative log-likelihood in nats (natural log), e.g.
            Keras' ``sparse_categorical_crossentropy`` averaged over characters.

    Example:
        >>> round(perplexity(math.log(65)), 6)
        65.0
    """
    nats = _mean_nats(mean_nats)
    return math.exp(nats) if nats < 700 else math.inf


def bits_per_char(mean_nats: float) -> float:
    """Bits per character ``mean_nats / ln 2`` from a mean cross-entropy in nats.

    Example:
        >>> bits_per_char(math.log(2))
        1.0
    """
    return _mean_nats(mean_nats) / math.log(2.0)


def nats_from_bits(bits: float) -> float:
    """Inverse of :func:`bits_per_char`: nats per character from bits per character.

    Example:
        >>> round(nats_from_bits(1.0), 6)
        0.693147
    """
    return _mean_nats(bits) * math.log(2.0)


# --------------------------------------------------------------------------- classification


def _labels(values, what: str) -> np.ndarray:
    if hasattr(values, "numpy") and callable(values.numpy):
        values = values.numpy()
    array = np.asarray(values)
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(
            f"{what} must be a 1-D sequence of integer class ids, received dtype "
            f"{array.dtype} shape {array.shape}"
        )
    return array.astype(np.int64)


def accuracy(y_true, y_pred) -> float:
    """Fraction of predictions equal to the labels, in [0, 1].

    Args:
        y_true: integer class ids, shape ``(n,)``.
        y_pred: integer class ids, shape ``(n,)``, or class scores / logits /
            probabilities, shape ``(n, num_classes)`` (the arg-max is taken).

    Example:
        >>> accuracy([0, 1, 2, 1], [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0, 1, 0]])
        0.75
    """
    true = _labels(y_true, "y_true")
    if hasattr(y_pred, "numpy") and callable(y_pred.numpy):
        y_pred = y_pred.numpy()
    pred = np.asarray(y_pred)
    if pred.ndim == 2:
        pred = pred.argmax(axis=-1)
    pred = _labels(pred, "y_pred")
    if pred.shape != true.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, received {true.size} and {pred.size}"
        )
    if true.size == 0:
        raise ValueError("y_true is empty; accuracy needs at least one example")
    return float(np.mean(true == pred))


def majority_class(train_labels) -> int:
    """The most frequent class id of ``train_labels`` (the smallest id on ties).

    Example:
        >>> majority_class([2, 1, 2, 1, 0])
        1
    """
    labels = _labels(train_labels, "train_labels")
    if labels.size == 0 or labels.min() < 0:
        raise ValueError(
            f"train_labels must be non-empty class ids >= 0, received {labels[:10].tolist()!r}"
        )
    return int(np.argmax(np.bincount(labels)))


def majority_baseline(train_labels, eval_labels=None) -> float:
    """Accuracy of always predicting the most frequent training class.

    The number any classifier must beat: on a split with 42% negatives, a
    model that always answers "negative" already scores 0.42.

    Args:
        train_labels: integer class ids the majority class is taken from.
        eval_labels: integer class ids to score on; defaults to ``train_labels``.

    Returns:
        The accuracy in [0, 1].

    Example:
        >>> majority_baseline([0, 0, 1, 2])
        0.5
    """
    majority = majority_class(train_labels)
    labels = _labels(train_labels if eval_labels is None else eval_labels, "eval_labels")
    if labels.size == 0:
        raise ValueError("eval_labels is empty; the baseline needs at least one example")
    return float(np.mean(labels == majority))
