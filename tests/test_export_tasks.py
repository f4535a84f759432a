"""SavedModel exporters of classify, caption and translate runs: every signature against
the in-process Keras model and ``SequenceDecoder``, the in-graph tokenizer against
``WordVocab`` on every code point and on the real tweets and gettext data, the
signature table of ``saved_model_cli``, and fuzz tests of odd strings and bad images."""

import io
import json
import os
import random
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from seqkit.builders import build_many_to_one, build_one_to_many
from seqkit.config import recipe_config, save_config
from seqkit.data.images import FASHION_MNIST_CLASSES, load_captions, load_fashion_mnist
from seqkit.data.sentiment import TWEET_CLASSES, load_sentiment
from seqkit.data.translation import load_translation_pairs
from seqkit.data.words import WordVocab, tokenize
from seqkit.export import export_run, list_versions
from seqkit.export_tasks import (
    MAX_BEAM_WIDTH,
    MAX_SOURCE_TOKENS,
    SIGNATURE_KEYS,
    WordTokenizer,
    python_character_tables,
)
from seqkit.generate import SequenceDecoder

SENTIMENT_MAX_TOKENS = 12   # below most tweets' length: truncation is exercised
CAPTION_MAX_LENGTH = 12


def _strings(tensor):
    return [value.decode("utf-8") for value in tensor.numpy()]


def _padded(rows):
    out = np.zeros((len(rows), max([1, *map(len, rows)])), np.int32)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def _fake_run(run_dir, model, config, metrics, vocabs):
    """A run directory as ``seqkit.train`` writes it (model, config, metrics, vocabularies)."""
    run_dir.mkdir(parents=True)
    model.save(run_dir / "model.keras")
    save_config(config, run_dir / "config.json")
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    for filename, vocab in vocabs.items():
        vocab.save(run_dir / filename)


# ---------------------------------------------------------------------------
# Runs and their exports (module scope: each is exported once)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tweets():
    data = load_sentiment("tweets", seed=0)
    texts = [t for split in ("train", "validation", "test") for t in data.split(split)[0]]
    return {"texts": texts, "vocab": WordVocab.from_texts(data.train[0], max_size=20000,
                                                          min_count=2)}


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory, tweets):
    """An untrained sentiment classifier in a run directory with the real tweet vocabulary."""
    root = tmp_path_factory.mktemp("sentiment")
    keras.utils.set_random_seed(0)
    vocab = tweets["vocab"]
    model = build_many_to_one("gru", 8, 3, vocab_size=vocab.size, embedding_dim=8,
                              compile=False, name="sentiment")
    config = recipe_config("sentiment", ["model.cell=gru", "model.units=8",
                                         "model.embedding_dim=8",
                                         f"data.max_tokens={SENTIMENT_MAX_TOKENS}"])
    _fake_run(root / "run", model, config, {"class_names": list(TWEET_CLASSES)},
              {"vocab.json": vocab})
    version = export_run(root / "run", root / "saved_models")
    return {"model": model, "vocab": vocab, "version": version, "run": root / "run",
            "loaded": tf.saved_model.load(str(version))}


@pytest.fixture(scope="module")
def image_rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("image_rows")
    keras.utils.set_random_seed(0)
    model = build_many_to_one("lstm", 8, 10, input_dim=28, compile=False,
                              name="sequence_classify")
    _fake_run(root / "run", model, recipe_config("sequence_classify", ["model.units=8"]),
              {"class_names": list(FASHION_MNIST_CLASSES)}, {})
    version = export_run(root / "run", root / "saved_models")
    images = load_fashion_mnist(seed=0).test[0][:16]
    return {"model": model, "version": version, "images": images,
            "loaded": tf.saved_model.load(str(version))}


def _caption_arrays(split, count):
    dataset = load_captions("fashion_captions", split, num_train=600, num_validation=50,
                            num_test=50, seed=0)
    images, captions = [], []
    for example in dataset.take(count).as_numpy_iterator():
        images.append(example["image"])
        captions.append(example["caption"].decode("utf-8"))
    return np.stack(images), captions


@pytest.fixture(scope="module")
def caption(tmp_path_factory):
    """A captioner with the real caption vocabulary, on real test grids.

    A few seconds of training do not teach it the caption grammar, so it is
    untrained, with sharper logits and a raised ``<end>`` bias: its greedy and
    beam captions end at varied lengths (some at ``max_length``), as a trained
    model's do, and beam search often disagrees with greedy decoding.
    """
    root = tmp_path_factory.mktemp("caption")
    _, train_captions = _caption_arrays("train", 600)
    images, _ = _caption_arrays("test", 12)
    vocab = WordVocab.from_texts(train_captions)
    keras.utils.set_random_seed(3)
    model = build_one_to_many("lstm", 16, vocab.size, images.shape[1:], embedding_dim=8,
                              conditioning="initial_state", features=16,
                              encoder_filters=(4, 8), compile=False, name="caption")
    logits = model.get_layer("logits")
    logits.kernel.assign(logits.kernel * 4.0)
    logits.bias.assign(tf.tensor_scatter_nd_update(logits.bias, [[vocab.end_id]], [0.1]))
    config = recipe_config("caption", ["model.units=16", "model.embedding_dim=8",
                                       "model.conditioning=initial_state",
                                       f"eval.max_length={CAPTION_MAX_LENGTH}"])
    _fake_run(root / "run", model, config, {}, {"vocab.json": vocab})
    version = export_run(root / "run", root / "saved_models")
    decoder = SequenceDecoder(model, vocab.start_id, vocab.end_id, CAPTION_MAX_LENGTH)
    return {"model": model, "vocab": vocab, "version": version, "images": images,
            "decoder": decoder, "loaded": tf.saved_model.load(str(version))}


@pytest.fixture(scope="module")
def translate(tmp_path_factory):
    """A real (tiny, two-second) run of the translate recipe with Luong attention."""
    from seqkit.train import run

    root = tmp_path_factory.mktemp("translate")
    config = recipe_config("translate", [
        "train.epochs=1", "train.time_budget_s=2", "train.verbose=0", "train.resume=False",
        f"train.run_dir={root / 'run'}", "model.attention=luong", "model.units=16",
        "model.embedding_dim=8", "eval.examples=2", "data.max_tokens=6",
        "eval.max_length=10"])
    model, _ = run(config)
    version = export_run(root / "run", root / "saved_models")
    source = WordVocab.load(root / "run" / "source_vocab.json")
    target = WordVocab.load(root / "run" / "target_vocab.json")
    return {"model": model, "source": source, "target": target, "version": version,
            "run": root / "run", "base": root / "saved_models",
            "decoder": SequenceDecoder(model, target.start_id, target.end_id, 10),
            "loaded": tf.saved_model.load(str(version))}


@pytest.fixture(scope="module")
def gettext():
    pairs = load_translation_pairs("fr", max_tokens=None, seed=0)
    splits = [pairs.split(name) for name in ("train", "validation", "test")]
    return {"sources": [s for src, _ in splits for s in src],
            "targets": [t for _, tgt in splits for t in tgt],
            "test": list(pairs.split("test")[0])}


# ---------------------------------------------------------------------------
# The tokenizer: provably WordVocab's
# ---------------------------------------------------------------------------

def test_character_tables_are_this_pythons_own():
    """The tables baked into the graph classify every code point as Python's ``re`` does."""
    words, spaces, lower = python_character_tables()

    def members(ranges):
        out = np.zeros(0x110000, bool)
        for a, b in ranges:
            out[a:b + 1] = True
        return out

    everything = "".join(map(chr, range(0x110000)))
    for pattern, ranges in ((r"\w", words), (r"\s", spaces)):
        expected = np.zeros(0x110000, bool)
        expected[[m.start() for m in re.finditer(pattern, everything)]] = True
        assert np.array_equal(members(ranges), expected), pattern
    assert lower == {c: chr(c).lower() for c in range(0x110000)
                     if not 0xD800 <= c <= 0xDFFF and chr(c).lower() != chr(c)}
    assert tokenize("ΟΔΥΣΣΕΥΣ İstanbul") == ["οδυσσευσ", "i", "\u0307", "stanbul"]
    assert tokenize("Hello, World!  It's 3pm") == ["hello", ",", "world", "!", "it", "'", "s",
                                                  "3pm"]


def test_graph_tokenizer_equals_python_on_every_code_point():
    tokenizer = WordTokenizer(WordVocab(["a"]))
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = ["".join(map(chr, points[i:i + 128])) for i in range(0, len(points), 128)]
    rng = random.Random(0)
    pool = [chr(c) for c in (*range(0x250), 0x3A3, 0x130, 0x1C5, 0x2C2F, 0xA7C0, 0x10570,
                             0x85, 0xA0, 0x1680, 0x2028, 0x3000, 0x200B, 0xFEFF, 0x0301,
                             0xFFFD, 0x1F600, 0x10FFFF)]
    texts += ["".join(rng.choice(pool) for _ in range(rng.randrange(40))) for _ in range(3000)]
    texts += ["ΟΔΥΣΣΕΥΣ", "ΣΑΣ σας", "aΣ", "İİ", "\x00\x1c\x1f\x85x", ""]
    got = tokenizer.tokens(tf.constant([t.encode("utf-8") for t in texts])).to_list()
    mismatches = [(t, g) for t, g in zip(texts, got)
                  if [w.decode("utf-8") for w in g] != tokenize(t)]
    assert not mismatches, mismatches[:3]


def test_graph_tokenizer_equals_wordvocab_on_the_real_data(sentiment, tweets, translate,
                                                           gettext):
    """Identical ids for every tweet and every gettext message, source and target."""
    def check(out, texts, vocab, limit):
        tokens, length = out["tokens"].numpy(), out["length"].numpy()
        expected = [vocab.encode(t)[:limit] or [1] for t in texts]
        assert tokens.shape[1] == max(map(len, expected))
        bad = [t for t, row, n, e in zip(texts, tokens, length, expected)
               if n != len(e) or list(row[:n]) != e or row[n:].any()]
        assert not bad, bad[:3]

    texts = tweets["texts"]
    assert len(texts) == 37185
    check(sentiment["loaded"].signatures["tokenize"](text=tf.constant(texts)), texts,
          tweets["vocab"], SENTIMENT_MAX_TOKENS)
    sources, targets = gettext["sources"], gettext["targets"]
    assert len(sources) == len(targets) > 30000
    check(translate["loaded"].signatures["tokenize"](source=tf.constant(sources)), sources,
          translate["source"], MAX_SOURCE_TOKENS)
    tokens, length = WordTokenizer(translate["target"]).ids(tf.constant(targets))
    check({"tokens": tokens, "length": length}, targets, translate["target"], None)


# ---------------------------------------------------------------------------
# Classifiers
# ---------------------------------------------------------------------------

def test_text_classifier_equals_the_keras_model(sentiment, tweets):
    texts = tweets["texts"][:200:4] + ["", "   ", "zzzqx unseen words", "\u00e9t\u00e9 \u4e2d",
                                       "word " * 500]
    out = sentiment["loaded"].signatures["serving_default"](text=tf.constant(texts))
    assert set(out) == {"probabilities", "class_id", "label", "class_names"}
    vocab = sentiment["vocab"]
    tokens = _padded([vocab.encode(t)[:SENTIMENT_MAX_TOKENS] or [1] for t in texts])
    expected = sentiment["model"]({"tokens": tokens})["probabilities"].numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    ids = expected.argmax(-1)
    assert out["class_id"].numpy().tolist() == ids.tolist()
    assert _strings(out["label"]) == [TWEET_CLASSES[i] for i in ids]
    assert out["class_names"].numpy().tolist() == [[c.encode() for c in TWEET_CLASSES]] * len(
        texts)
    empty = sentiment["loaded"].signatures["classify"](text=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 3) and empty["label"].shape == (0,)


def _png(image):
    return tf.io.encode_png(image if image.ndim == 3 else image[..., None]).numpy()


def _pil_bytes(array, fmt, mode=None):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format=fmt)
    return buffer.getvalue()


def _resized(image, height, width):
    scaled = tf.image.resize(image, [height, width], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(scaled), 0, 255), tf.uint8).numpy()


def test_image_rows_classifier_equals_the_keras_model(image_rows):
    images, loaded = image_rows["images"], image_rows["loaded"]
    expected = image_rows["model"]({"frames": images.astype("float32") / 255.0})[
        "probabilities"].numpy()
    out = loaded.signatures["serving_default"](image=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert _strings(out["label"]) == [FASHION_MNIST_CLASSES[i] for i in expected.argmax(-1)]
    # Encoded: PNG, then a 56x84 RGB upscale (made grey and resized back), then junk.
    big = np.repeat(np.repeat(images[0], 2, 0), 3, 1)
    rgb = np.stack([big, big // 2, 255 - big], -1)
    encoded = [_png(image) for image in images] + [_png(rgb), b"not an image"]
    out = loaded.signatures["classify_bytes"](image_bytes=tf.constant(encoded))
    assert out["valid"].numpy().tolist() == [True] * 17 + [False]
    grey = _resized(tf.image.rgb_to_grayscale(rgb), 28, 28)[..., 0]
    expected_rgb = image_rows["model"]({"frames": grey[None].astype("float32") / 255.0})[
        "probabilities"].numpy()
    np.testing.assert_allclose(out["probabilities"].numpy()[:17],
                               np.concatenate([expected, expected_rgb]), rtol=1e-5, atol=1e-6)
    assert out["class_id"].numpy()[-1] == -1 and _strings(out["label"])[-1] == ""
    assert not out["probabilities"].numpy()[-1].any()


# ---------------------------------------------------------------------------
# Captioner
# ---------------------------------------------------------------------------

def _decoded(vocab, sequences):
    return [vocab.decode(ids) for ids in sequences]


def test_captions_equal_the_sequence_decoder(caption):
    images, decoder, vocab = caption["images"], caption["decoder"], caption["vocab"]
    signatures = caption["loaded"].signatures
    greedy_ids = decoder.greedy({"image": images})
    greedy = _decoded(vocab, greedy_ids)
    widths = [1 + i % 5 for i in range(len(images))]
    beam = [vocab.decode(decoder.beam({"image": images[i:i + 1]}, width=w)[0])
            for i, w in enumerate(widths)]
    beam3 = _decoded(vocab, decoder.beam({"image": images}, width=3))
    # The test decodes something: captions of varied lengths, beams unlike greedy.
    lengths = {len(ids) for ids in greedy_ids}
    assert len(lengths) >= 3 and CAPTION_MAX_LENGTH in lengths
    assert beam3 != greedy

    assert _strings(signatures["caption_image"](image=tf.constant(images))["caption"]) == greedy
    assert _strings(signatures["beam_image"](image=tf.constant(images), beam_width=tf.constant(
        widths))["caption"]) == beam
    assert _strings(signatures["beam_image"](image=tf.constant(images), beam_width=tf.constant(
        [3]))["caption"]) == beam3
    encoded = tf.constant([_png(image) for image in images])
    out = signatures["serving_default"](image_bytes=encoded)
    assert _strings(out["caption"]) == greedy and out["valid"].numpy().all()
    out = signatures["beam_bytes"](image_bytes=encoded, beam_width=tf.constant(widths))
    assert _strings(out["caption"]) == beam and out["valid"].numpy().all()
    # Through seqkit.serving (as `seqkit predict`), and as a REST body: {"b64": ...}.
    from seqkit.serving import predict_local, rest_payload

    out = predict_local(caption["version"], "beam_bytes", {"image_bytes": encoded.numpy()[:2],
                                                           "beam_width": 2})
    assert [c.decode() for c in out["caption"]] == _decoded(
        vocab, decoder.beam({"image": images[:2]}, width=2))
    body = rest_payload({"image_bytes": encoded.numpy()[:2], "beam_width": 2}, "beam_bytes")
    assert body["instances"][1]["beam_width"] == 2
    assert set(body["instances"][0]["image_bytes"]) == {"b64"}
    # Width 1 is greedy search.
    assert _strings(signatures["beam_image"](image=tf.constant(images), beam_width=tf.constant(
        [1]))["caption"]) == greedy
    empty = signatures["beam_bytes"](image_bytes=tf.constant([], tf.string),
                                     beam_width=tf.constant([2]))
    assert empty["caption"].shape == (0,) and empty["valid"].shape == (0,)


def _bad_images(rng, png):
    """Bytes that must come back ``valid = false``: not images, corrupt, truncated, bombs."""
    ihdr = png[:16] + (100_000).to_bytes(4, "big") + (100_000).to_bytes(4, "big") + png[24:]
    bad = [b"", b"\x00", b"not an image", b"GIF89a", b"BM", b"\xff\xd8\xff",
           "é😀".encode(), png[:8], png[:33], png[:len(png) // 2], png[:-13], ihdr,
           b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"%PDF-1.4\n"]
    bad += [bytes(rng.randrange(256) for _ in range(rng.choice([1, 10, 100, 1000])))
            for _ in range(30)]
    bad += [png[:8] + bytes(rng.randrange(256) for _ in range(200)) for _ in range(10)]
    return bad


def test_caption_bytes_survive_corrupt_wrong_sized_and_non_image_bytes(caption):
    images, decoder, vocab = caption["images"], caption["decoder"], caption["vocab"]
    rng = random.Random(0)
    png = _png(images[0])
    bad = _bad_images(rng, png)
    # Valid images in other sizes and formats, decoded and resized as documented.
    grid = images[1][..., 0]
    odd = {
        "jpeg": (tf.io.encode_jpeg(images[1], quality=95).numpy(), None),
        "gif": (_pil_bytes(grid, "GIF"), grid[..., None]),
        "bmp": (_pil_bytes(grid, "BMP"), grid[..., None]),
        "rgba": (_pil_bytes(np.stack([grid, grid, grid, np.full_like(grid, 9)], -1), "PNG"),
                 grid[..., None]),
        "grey16": (_pil_bytes(grid.astype(np.uint16) * 257, "PNG"), grid[..., None]),
        "small": (_png(images[2][::2, ::2]), _resized(images[2][::2, ::2], 56, 56)),
        "tall": (_png(np.repeat(images[3], 3, 0)), _resized(np.repeat(images[3], 3, 0), 56, 56)),
        "tiny": (_png(np.full([1, 1, 1], 200, np.uint8)), np.full([56, 56, 1], 200, np.uint8)),
    }
    odd["jpeg"] = (odd["jpeg"][0], tf.io.decode_jpeg(odd["jpeg"][0], channels=1).numpy())
    good = [png, *[data for data, _ in odd.values()]]
    expected_images = np.stack([images[0], *[image for _, image in odd.values()]])
    expected = _decoded(vocab, decoder.greedy({"image": expected_images}))
    # Interleaved: each good image between bad ones, in one batch.
    batch, where = [], []
    for i, item in enumerate(bad):
        if i < len(good):
            where.append(len(batch))
            batch.append(good[i])
        batch.append(item)
    out = caption["loaded"].signatures["caption_bytes"](image_bytes=tf.constant(batch))
    valid, captions = out["valid"].numpy(), _strings(out["caption"])
    assert [i for i in range(len(batch)) if valid[i]] == where
    assert [captions[i] for i in where] == expected
    assert all(captions[i] == "" for i in range(len(batch)) if not valid[i])
    out = caption["loaded"].signatures["beam_bytes"](image_bytes=tf.constant(bad),
                                                      beam_width=tf.constant([2]))
    assert not out["valid"].numpy().any() and set(_strings(out["caption"])) == {""}


@pytest.mark.parametrize("widths, match", [
    ([0], r"beam_width must be in \[1, 16\], received:\] \[0\]"),
    ([MAX_BEAM_WIDTH + 1], r"beam_width must be in \[1, 16\]"),
    ([1, 2], r"beam_width must hold one value per row or a single value; rows:\] \[3\] "
             r"\[beam_width values received:\] \[2\]"),
])
def test_bad_beam_widths_are_clear_errors(caption, translate, widths, match):
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        caption["loaded"].signatures["beam_image"](
            image=tf.constant(caption["images"][:3]), beam_width=tf.constant(widths))
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        translate["loaded"].signatures["beam"](source=tf.constant(["a", "b", "c"]),
                                                beam_width=tf.constant(widths))


def test_wrong_shaped_image_arrays_are_clear_errors(caption, image_rows):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"image must be uint8 \[batch, 56, 56, 1\]; received shape:\] "
                             r"\[1 28 28 1\]"):
        caption["loaded"].signatures["caption_image"](image=tf.zeros([1, 28, 28, 1], tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"image must be uint8 \[batch, 28, 28\]; received shape:\] "
                             r"\[2 28 27\]"):
        image_rows["loaded"].signatures["classify"](image=tf.zeros([2, 28, 27], tf.uint8))


# ---------------------------------------------------------------------------
# Translator
# ---------------------------------------------------------------------------

def test_translations_equal_the_sequence_decoder(translate, gettext):
    sources = gettext["test"][:14] + ["", "zzqx unseenword, File!"]
    source, target, decoder = translate["source"], translate["target"], translate["decoder"]
    ids = _padded([source.encode(s)[:MAX_SOURCE_TOKENS] or [1] for s in sources])
    greedy = _decoded(target, decoder.greedy({"source": ids}))
    widths = [1 + i % 4 for i in range(len(sources))]
    beam = [target.decode(decoder.beam({"source": ids[i:i + 1]}, width=w)[0])
            for i, w in enumerate(widths)]
    signatures = translate["loaded"].signatures
    assert len(set(greedy)) >= 3  # a two-second model already says different things
    assert _strings(signatures["serving_default"](source=tf.constant(sources))[
        "translation"]) == greedy
    assert _strings(signatures["beam"](source=tf.constant(sources), beam_width=tf.constant(
        widths))["translation"]) == beam
    assert signatures["translate"](source=tf.constant([], tf.string))["translation"].shape == (0,)


# ---------------------------------------------------------------------------
# Fuzz: odd strings through every text signature
# ---------------------------------------------------------------------------

def _odd_strings(rng, count, words):
    """Empty, long, unseen Unicode, control characters, invalid UTF-8, as bytes."""
    planes = [(0x20, 0x7F), (0x80, 0x800), (0x800, 0xD800), (0xE000, 0x10000),
              (0x10000, 0x110000)]
    out = [b"", b" ", b"\x00", b"\n\t\x0b\x0c\r\x1c\x1d\x1e\x1f\x85", ("a" * 20_000).encode(),
           ("ok " * 5000).encode(), bytes(range(256)), b"\xff\xfe\xfd", b"\xed\xa0\x80",
           b"\xc0\xaf", b"\xf4\x90\x80\x80", "\U0010ffff\ufffd\ufeff\u202e".encode(),
           ("e\u0301" * 50).encode(), "ΟΔΥΣΣΕΥΣ İ ǅ ß".encode(), b"<unk> <start> <end>"]
    while len(out) < count:
        kind = rng.randrange(5)
        n = rng.choice([0, 1, 2, 5, 20, 60])
        if kind == 0:  # random code points, any plane
            out.append("".join(chr(rng.randrange(*rng.choice(planes)))
                               for _ in range(n)).encode("utf-8"))
        elif kind == 1:  # control characters
            out.append("".join(chr(rng.choice([*range(32), 127, *range(0x80, 0xA0)]))
                               for _ in range(n)).encode("utf-8"))
        elif kind == 2:  # random bytes (mostly invalid UTF-8)
            out.append(bytes(rng.randrange(256) for _ in range(n)))
        elif kind == 3:  # known words with a truncated multibyte sequence inside
            text = " ".join(rng.choice(words) for _ in range(n)).encode("utf-8")
            out.append(text[:len(text) // 2] + "ß€😀".encode()[:rng.randrange(1, 9)]
                       + text[len(text) // 2:])
        else:  # known words, mixed case and punctuation
            out.append(" ".join(rng.choice(words).upper() if rng.random() < 0.3 else
                                rng.choice(words) + rng.choice(["", ",", "!", "'s"])
                                for _ in range(n)).encode("utf-8"))
    return out


def test_fuzz_text_signatures_with_thousands_of_odd_strings(sentiment, translate):
    rng = random.Random(0)
    vocab = sentiment["vocab"]
    strings = _odd_strings(rng, 2000, vocab.words[4:200])
    tokenize_sig = sentiment["loaded"].signatures["tokenize"]
    classify = sentiment["loaded"].signatures["classify"]
    for start in range(0, len(strings), 500):
        batch = strings[start:start + 500]
        tokens = tokenize_sig(text=tf.constant(batch))
        ids, lengths = tokens["tokens"].numpy(), tokens["length"].numpy()
        for raw, row, n in zip(batch, ids, lengths):  # Python reads bad bytes as U+FFFD too
            expected = vocab.encode(raw.decode("utf-8", "replace"))[:SENTIMENT_MAX_TOKENS] or [1]
            assert list(row[:n]) == expected and not row[n:].any(), raw[:100]
        out = classify(text=tf.constant(batch))
        probabilities = out["probabilities"].numpy()
        assert probabilities.shape == (len(batch), 3) and np.isfinite(probabilities).all()
        np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
        assert set(_strings(out["label"])) <= set(TWEET_CLASSES)
    # The translator: every odd string translates (valid UTF-8 out), greedy and beam.
    source = translate["source"]
    sample = strings[:15] + rng.sample(strings, 45)
    out = translate["loaded"].signatures["tokenize"](source=tf.constant(sample))
    for raw, row, n in zip(sample, out["tokens"].numpy(), out["length"].numpy()):
        expected = source.encode(raw.decode("utf-8", "replace"))[:MAX_SOURCE_TOKENS] or [1]
        assert list(row[:n]) == expected, raw[:100]
    greedy = _strings(translate["loaded"].signatures["translate"](source=tf.constant(sample))[
        "translation"])
    beam = _strings(translate["loaded"].signatures["beam"](source=tf.constant(sample),
                                                          beam_width=tf.constant([3]))[
        "translation"])
    assert len(greedy) == len(beam) == len(sample)
    words = set(translate["target"].words)
    assert all(set(t.split()) <= words for t in greedy + beam)


# ---------------------------------------------------------------------------
# Layout, saved_model_cli, the command line
# ---------------------------------------------------------------------------

SIGNATURES = {
    "sentiment": {
        "classify": ({"text": ("DT_STRING", "(-1)")},
                     {"probabilities": ("DT_FLOAT", "(-1, 3)"), "class_id": ("DT_INT32", "(-1)"),
                      "label": ("DT_STRING", "(-1)"), "class_names": ("DT_STRING", "(-1, 3)")}),
        "tokenize": ({"text": ("DT_STRING", "(-1)")},
                     {"tokens": ("DT_INT32", "(-1, -1)"), "length": ("DT_INT32", "(-1)")}),
    },
    "image_rows": {
        "classify": ({"image": ("DT_UINT8", "(-1, 28, 28)")},
                     {"probabilities": ("DT_FLOAT", "(-1, 10)"), "label": ("DT_STRING", "(-1)"),
                      "class_id": ("DT_INT32", "(-1)"),
                      "class_names": ("DT_STRING", "(-1, 10)")}),
        "classify_bytes": ({"image_bytes": ("DT_STRING", "(-1)")},
                           {"probabilities": ("DT_FLOAT", "(-1, 10)"),
                            "label": ("DT_STRING", "(-1)"), "class_id": ("DT_INT32", "(-1)"),
                            "class_names": ("DT_STRING", "(-1, 10)"),
                            "valid": ("DT_BOOL", "(-1)")}),
    },
    "caption": {
        "caption_bytes": ({"image_bytes": ("DT_STRING", "(-1)")},
                          {"caption": ("DT_STRING", "(-1)"), "valid": ("DT_BOOL", "(-1)")}),
        "caption_image": ({"image": ("DT_UINT8", "(-1, 56, 56, 1)")},
                          {"caption": ("DT_STRING", "(-1)")}),
        "beam_bytes": ({"image_bytes": ("DT_STRING", "(-1)"), "beam_width": ("DT_INT32", "(-1)")},
                       {"caption": ("DT_STRING", "(-1)"), "valid": ("DT_BOOL", "(-1)")}),
        "beam_image": ({"image": ("DT_UINT8", "(-1, 56, 56, 1)"),
                        "beam_width": ("DT_INT32", "(-1)")}, {"caption": ("DT_STRING", "(-1)")}),
    },
    "translate": {
        "translate": ({"source": ("DT_STRING", "(-1)")}, {"translation": ("DT_STRING", "(-1)")}),
        "beam": ({"source": ("DT_STRING", "(-1)"), "beam_width": ("DT_INT32", "(-1)")},
                 {"translation": ("DT_STRING", "(-1)")}),
        "tokenize": ({"source": ("DT_STRING", "(-1)")},
                     {"tokens": ("DT_INT32", "(-1, -1)"), "length": ("DT_INT32", "(-1)")}),
    },
}
DEFAULTS = {"sentiment": "classify", "image_rows": "classify", "caption": "caption_bytes",
            "translate": "translate"}
KINDS = {"sentiment": "text", "image_rows": "image_rows", "caption": "caption",
         "translate": "translate"}


def _blocks(text):
    parts = re.split(r"signature_def\['([^']+)'\]:", text)
    return dict(zip(parts[1::2], parts[2::2]))


def _tensors(block, side):
    found = re.findall(side + r"\['([^']+)'\] tensor_info:\n\s+dtype: (\w+)\n\s+shape: "
                       r"(\([^)]*\))", block)
    return {name: (dtype, shape) for name, dtype, shape in found}


_SAVED_MODEL_CLI = """
import sys
from tensorflow.python.tools.saved_model_cli import main  # the saved_model_cli script's
for directory in sys.argv[1:]:
    sys.argv = ["saved_model_cli", "show", "--all", "--dir", directory]
    print("=== " + directory, flush=True)
    try:
        main()
    except SystemExit as exit:
        if exit.code:
            raise
    sys.stdout.flush()
"""


def test_saved_model_cli_lists_the_documented_signatures(sentiment, image_rows, caption,
                                                         translate):
    """``saved_model_cli show --all`` on each export (in one process: TF imports once)."""
    exports = {"sentiment": sentiment, "image_rows": image_rows, "caption": caption,
               "translate": translate}
    shown = subprocess.run(
        [sys.executable, "-c", _SAVED_MODEL_CLI, *[str(e["version"]) for e in exports.values()]],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert shown.returncode == 0, shown.stderr[-2000:]
    outputs = shown.stdout.split("=== ")[1:]
    assert len(outputs) == len(exports)
    for (kind, export), out in zip(exports.items(), outputs):
        assert out.startswith(str(export["version"]))
        blocks = _blocks(out)
        assert set(blocks) == {"__saved_model_init_op", *SIGNATURE_KEYS[KINDS[kind]]}, kind
        expected = {**SIGNATURES[kind], "serving_default": SIGNATURES[kind][DEFAULTS[kind]]}
        for key, (inputs, outputs_) in expected.items():
            assert _tensors(blocks[key], "inputs") == inputs, (kind, key)
            assert _tensors(blocks[key], "outputs") == outputs_, (kind, key)


def test_export_layout_and_the_command_line(translate, capsys):
    from seqkit.cli import main

    version = translate["version"]
    assert version.name == "1" and version.parent.name == "run"
    for name in ("saved_model.pb", "assets/source_vocab.json", "assets/target_vocab.json",
                 "assets/config.json", "assets/metrics.json"):
        assert (version / name).exists(), name
    for name in ("source_vocab.json", "target_vocab.json", "config.json", "metrics.json"):
        assert json.loads((version.parent / name).read_text()) == json.loads(
            (translate["run"] / name).read_text())
    # The command line takes the next version; models.config lists the model.
    base = translate["base"]
    assert main(["export", str(translate["run"]), "--base", str(base)]) == 0
    assert "exported" in capsys.readouterr().out
    assert list_versions(base / "run") == [1, 2]
    assert "name: 'run'" in (base / "models.config").read_text()
    loaded = tf.saved_model.load(str(base / "run" / "2"))
    sources = tf.constant(["file", "Invalid option"])
    assert _strings(loaded.signatures["translate"](source=sources)["translation"]) == _strings(
        translate["loaded"].signatures["translate"](source=sources)["translation"])


def test_export_errors_name_the_missing_files(tmp_path, caption):
    run = tmp_path / "run"
    run.mkdir()
    save_config(recipe_config("translate"), run / "config.json")
    with pytest.raises(ValueError, match=r"not a trained run directory: missing \['model.keras', "
                                         r"'source_vocab.json', 'target_vocab.json'\]"):
        export_run(run, tmp_path / "saved_models")
    save_config(recipe_config("caption", ["eval.max_length=0"]), run / "config.json")
    caption["model"].save(run / "model.keras")
    caption["vocab"].save(run / "vocab.json")
    with pytest.raises(ValueError, match="eval.max_length must be a positive int, received 0"):
        export_run(run, tmp_path / "saved_models")
    assert not list((tmp_path / "saved_models").glob("*/.tmp-*"))
