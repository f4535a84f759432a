import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkit.data import CharVocab, load_text, skip_batches, steps_per_epoch, stream_batches
from seqkit.data.charlm import OOV_ID, REPLACEMENT_CHAR

UNICODE_TEXT = "Tab\there, \"quotes\" and 'apostrophes'\nnäive café — 中文 😀\r\nend"


# --------------------------------------------------------------------------- vocabulary


def test_vocab_round_trip_with_unicode_and_newlines():
    vocab = CharVocab.from_text(UNICODE_TEXT)
    assert vocab.chars == sorted(set(UNICODE_TEXT))
    assert vocab.size == len(set(UNICODE_TEXT)) + 1
    ids = vocab.encode(UNICODE_TEXT)
    assert ids.dtype == np.int32 and ids.shape == (len(UNICODE_TEXT),)
    assert ids.min() >= 1 and ids.max() == vocab.size - 1
    assert vocab.decode(ids) == UNICODE_TEXT
    assert vocab.decode(tf.constant(ids)) == UNICODE_TEXT
    assert vocab.encode("").shape == (0,)


def test_unseen_characters_get_the_oov_id():
    vocab = CharVocab.from_text("abc\n")
    ids = vocab.encode("a€z\nb😀")
    assert ids.tolist() == [2, OOV_ID, OOV_ID, 1, 3, OOV_ID]
    assert vocab.decode(ids) == f"a{REPLACEMENT_CHAR}{REPLACEMENT_CHAR}\nb{REPLACEMENT_CHAR}"
    assert vocab.decode([1, 99, -1]) == f"\n{REPLACEMENT_CHAR}{REPLACEMENT_CHAR}"


def test_replacement_char_in_vocab_decodes_oov_to_empty():
    vocab = CharVocab.from_text(f"ab{REPLACEMENT_CHAR}")
    assert vocab.oov_char == ""
    assert vocab.decode(vocab.encode(f"a?{REPLACEMENT_CHAR}")) == f"a{REPLACEMENT_CHAR}"
    chars = vocab.inverse_layer()(tf.constant([0, 1, 3]))
    assert [c.decode() for c in chars.numpy()] == ["", "a", REPLACEMENT_CHAR]


def test_save_load_round_trip(tmp_path):
    vocab = CharVocab.from_text(UNICODE_TEXT)
    path = tmp_path / "vocab.json"
    vocab.save(path)
    raw = path.read_text(encoding="utf-8")
    assert "中" in raw and "😀" in raw  # stored as readable UTF-8
    loaded = CharVocab.load(path)
    assert loaded == vocab and loaded.chars == vocab.chars
    np.testing.assert_array_equal(loaded.encode(UNICODE_TEXT), vocab.encode(UNICODE_TEXT))


def test_lookup_layers_match_encode_and_decode_in_graph():
    vocab = CharVocab.from_text(UNICODE_TEXT)
    probe = UNICODE_TEXT + " unseen: ß€"
    lookup, inverse = vocab.lookup_layer(), vocab.inverse_layer()

    @tf.function
    def to_ids(text):
        return lookup(tf.strings.unicode_split(text, "UTF-8"))

    ids = to_ids(tf.constant(probe)).numpy()
    np.testing.assert_array_equal(ids, vocab.encode(probe))
    text = tf.strings.reduce_join(inverse(tf.constant(ids)), axis=-1).numpy().decode()
    assert text == vocab.decode(ids)
    # Usable inside a functional model on string input.
    inputs = keras.Input(shape=(None,), dtype="string")
    model = keras.Model(inputs, vocab.lookup_layer()(inputs))
    chars = tf.strings.unicode_split(tf.constant(["Tab\t", "中文😀?"]), "UTF-8").to_tensor()
    out = model(chars).numpy()
    np.testing.assert_array_equal(out[0], vocab.encode("Tab\t"))
    np.testing.assert_array_equal(out[1], vocab.encode("中文😀?"))


@pytest.mark.parametrize(
    "chars, pattern",
    [
        ([], r"received \[\]"),
        (["a", "bc"], "'bc'"),
        (["a", "b", "a"], r"duplicates \['a'\]"),
    ],
)
def test_bad_vocabularies(chars, pattern):
    with pytest.raises(ValueError, match=pattern):
        CharVocab(chars)


def test_bad_vocab_inputs(tmp_path):
    with pytest.raises(ValueError, match="received ''"):
        CharVocab.from_text("")
    with pytest.raises(ValueError, match="received list"):
        CharVocab.from_text("ab").encode(["a"])
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"chars": ["a"]}))
    with pytest.raises(ValueError, match="not a saved"):
        CharVocab.load(path)


# --------------------------------------------------------------------------- streams


def rows(dataset):
    """Stack a stream dataset into arrays (steps, batch, seq)."""
    pairs = list(dataset.as_numpy_iterator())
    return np.stack([x for x, _ in pairs]), np.stack([y for _, y in pairs])


@pytest.mark.parametrize(
    "num_ids, batch_size, seq_length", [(1001, 4, 25), (257, 3, 7), (11, 1, 10)]
)
def test_streams_are_contiguous_and_targets_shifted(num_ids, batch_size, seq_length):
    ids = np.arange(num_ids)
    ds = stream_batches(ids, batch_size, seq_length)
    steps = steps_per_epoch(num_ids, batch_size, seq_length)
    assert ds.element_spec[0].shape == (batch_size, seq_length)
    assert ds.element_spec[0].dtype == tf.int32 and ds.element_spec[1].dtype == tf.int32
    xs, ys = rows(ds)
    assert xs.shape == (steps, batch_size, seq_length)
    stream_len = steps * seq_length
    for b in range(batch_size):
        row = np.concatenate(list(xs[:, b]))  # row b of batch 0, 1, 2, ...
        np.testing.assert_array_equal(row, ids[b * stream_len : (b + 1) * stream_len])
    np.testing.assert_array_equal(ys, xs + 1)


def test_streams_on_real_text():
    text = load_text("linux", max_chars=30_011)
    vocab = CharVocab.from_text(text)
    batch_size, seq_length = 8, 50
    xs, ys = rows(stream_batches(vocab.encode(text), batch_size, seq_length))
    steps = steps_per_epoch(len(text), batch_size, seq_length)
    assert len(xs) == steps == 30_010 // 8 // 50
    stream_len = steps * seq_length
    for b in range(batch_size):
        start = b * stream_len
        assert vocab.decode(np.concatenate(list(xs[:, b]))) == text[start : start + stream_len]
        assert (
            vocab.decode(np.concatenate(list(ys[:, b]))) == text[start + 1 : start + stream_len + 1]
        )


def test_resume_from_start_step():
    ids = np.arange(500)
    full_x, full_y = rows(stream_batches(ids, 4, 10))
    part_x, part_y = rows(stream_batches(ids, 4, 10, start_step=7))
    np.testing.assert_array_equal(part_x, full_x[7:])
    np.testing.assert_array_equal(part_y, full_y[7:])
    skip_x, _ = rows(skip_batches(stream_batches(ids, 4, 10), 7))
    np.testing.assert_array_equal(skip_x, full_x[7:])


def test_steps_per_epoch():
    assert steps_per_epoch(1001, 10, 25) == 4
    assert steps_per_epoch(1000, 10, 25) == 3
    assert steps_per_epoch(5, 10, 25) == 0


def test_too_short_text_says_what_is_needed():
    with pytest.raises(ValueError, match="at least 41 characters, received 40"):
        stream_batches(np.arange(40), batch_size=4, seq_length=10)
    stream_batches(np.arange(41), batch_size=4, seq_length=10)  # exactly enough


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"batch_size": 0}, "batch_size must be an int >= 1, received 0"),
        ({"batch_size": -2}, "received -2"),
        ({"batch_size": 2.5}, "received 2.5"),
        ({"batch_size": True}, "received True"),
        ({"seq_length": 0}, "seq_length must be an int >= 1, received 0"),
        ({"seq_length": "10"}, "received '10'"),
        ({"start_step": -1}, "start_step must be an int >= 0, received -1"),
        ({"start_step": 12}, r"\[0, 12\).*received 12"),
    ],
)
def test_bad_stream_arguments(kwargs, pattern):
    args = {"batch_size": 4, "seq_length": 10, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        stream_batches(np.arange(500), **args)


def test_bad_ids_and_skip():
    with pytest.raises(ValueError, match=r"shape \(10, 50\)"):
        stream_batches(np.zeros((10, 50), dtype=np.int32), 2, 5)
    with pytest.raises(ValueError, match="float"):
        stream_batches(np.zeros(500), 2, 5)
    with pytest.raises(ValueError, match="n must be an int >= 0, received -3"):
        skip_batches(tf.data.Dataset.range(3), -3)
