"""SavedModel exporters for the classify, caption and translate recipe families.

``seqkit.export.export_run`` (``seqkit export RUN_DIR``) hands runs of these tasks
to ``export_task_run``: the same TensorFlow Serving layout as the character
language models (``saved_models/<name>/<version>/``, atomic increasing versions,
``models.config``), with raw inputs and outputs: text, image bytes or uint8
pixels go in; probabilities, labels, captions and translations come out. The
tokenizer, the image decoding and the decoding loops all run inside the graph.

Signatures (B is the batch; every input and output has B rows, as TF Serving's
row format ``{"instances": [...]}`` needs; C is the number of classes)::

    classify, data.source=text (sentiment)
      serving_default = classify   text string [B] -> probabilities float32 [B, C],
                                   class_id int32 [B], label string [B],
                                   class_names string [B, C]
      tokenize                     text string [B] -> tokens int32 [B, T], length int32 [B]
    classify, data.source=image_rows (sequence_classify)
      serving_default = classify   image uint8 [B, 28, 28] -> probabilities, class_id,
                                   label, class_names
      classify_bytes               image_bytes string [B] -> the same + valid bool [B]
    caption
      serving_default = caption_bytes   image_bytes string [B] -> caption string [B],
                                        valid bool [B]
      caption_image                     image uint8 [B, H, W, C] -> caption string [B]
      beam_bytes                        image_bytes string [B], beam_width int32 [B]
                                        -> caption, valid
      beam_image                        image uint8 [B, H, W, C], beam_width int32 [B]
                                        -> caption
    translate
      serving_default = translate  source string [B] -> translation string [B]
      beam                         source string [B], beam_width int32 [B] -> translation
      tokenize                     source string [B] -> tokens int32 [B, T], length int32 [B]

Text. Tokens are ``seqkit.data.words.tokenize``'s, in the graph: the text is
read as UTF-8 (invalid bytes become U+FFFD, exactly as Python's
``bytes.decode("utf-8", "replace")``), lower-cased one code point at a time by
a table of this Python's ``str.lower``, and split by RE2 with the character
classes of Python's ``\\w`` and ``\\s`` written out as explicit code-point
ranges (TF's RE2 ``\\w``/``\\s`` are ASCII-only, ``\\p{L}`` follows RE2's own
Unicode version): both tables are enumerated from this Python over every code
point when the model is exported, so the exported tokenizer and
``WordVocab.encode`` agree on every character. Unknown words read as id 1
(``<unk>``). The classifier keeps the first ``data.max_tokens`` tokens and
reads an empty text as ``[1]``, as training did; the translator keeps the
first ``MAX_SOURCE_TOKENS`` (an empty source reads as ``[1]``, as training did).

Images (``image_bytes``): PNG, JPEG, GIF (first frame) or BMP, as TF Serving's
``{"b64": "..."}``. Each is decoded, made grey (ITU-R 601 luma, alpha dropped)
or RGB to match the model, and resized (bilinear, antialiased, rounded) to the
model's image size when its size differs. An element that is not one of these
formats, is corrupt or truncated, or declares more than ``MAX_IMAGE_PIXELS``
pixels in its header (checked before decoding: no decompression bombs) does
not fail the request: its row gets ``valid = false`` and an empty caption
(classifiers: probabilities 0, ``class_id`` -1, ``label`` ""); the other rows
are answered normally. ``image`` arrays must have the model's exact shape.

Decoding. Greedy decoding is a ``tf.while_loop`` of ``SequenceDecoder.step``
up to ``eval.max_length`` tokens that stops once every row has produced
``<end>``: the words equal ``SequenceDecoder.greedy``'s. Beam search runs all
rows at once, ``max(beam_width)`` beams each, and keeps
``SequenceDecoder.beam``'s rules exactly (float64 scores, a row stops once its
best finished hypothesis scores at least its best live one, ties go to the
finished one): its words equal ``SequenceDecoder.beam(width=beam_width)``'s.
``beam_width`` holds one value per row or a single value for all, each in
``[1, MAX_BEAM_WIDTH]``; anything else is an ``InvalidArgumentError`` naming
the values received. Captions and translations are ``WordVocab.decode``'s
text: words joined by single spaces.

Example:
    >>> from seqkit.export import export_run
    >>> from seqkit.serving import predict_local
    >>> path = export_run("runs/caption")        # saved_models/caption/<n>
    >>> png = open("grid.png", "rb").read()
    >>> predict_local(path, "beam_bytes", {"image_bytes": [png], "beam_width": [3]})
"""

from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from seqkit.data.words import TOKEN, WordVocab
from seqkit.export import _assert, _check_name, _Untracked, export_module_with_files

MAX_BEAM_WIDTH = 16
"""Largest ``beam_width`` the ``beam*`` signatures accept."""
MAX_SOURCE_TOKENS = 256
"""Source tokens a translator reads (the rest is dropped)."""
MAX_IMAGE_PIXELS = 4096 * 4096
"""Largest image (width x height, from its header) the ``*_bytes`` signatures decode."""
IMAGE_ROWS_SHAPE = (28, 28)
"""Image size of ``sequence_classify`` (Fashion-MNIST: 28 rows of 28 pixels)."""

SIGNATURE_KEYS = {
    "text": ("serving_default", "classify", "tokenize"),
    "image_rows": ("serving_default", "classify", "classify_bytes"),
    "caption": ("serving_default", "caption_bytes", "caption_image", "beam_bytes",
                "beam_image"),
    "translate": ("serving_default", "translate", "beam", "tokenize"),
}
"""Signature keys of each exported kind (``classify`` runs: their ``data.source``)."""


# ---------------------------------------------------------------------------
# The tokenizer, in the graph
# ---------------------------------------------------------------------------

_EXPECTED_TOKEN = r"\w+|[^\w\s]"


@functools.lru_cache(maxsize=1)
def python_character_tables():
    """This Python's tokenizer tables, enumerated over every code point.

    Returns:
        ``(word_ranges, space_ranges, lower)``: inclusive code-point ranges of
        ``re``'s ``\\w`` and ``\\s``, and ``{code point: chr(c).lower()}`` for the
        code points that ``str.lower`` changes (surrogates excluded).
    """
    everything = "".join(map(chr, range(0x110000)))

    def runs(pattern):
        return tuple((m.start(), m.end() - 1) for m in re.finditer(pattern, everything))

    # Candidates in one call ("\0" separators), then each code point on its own:
    # str.lower depends on the context only for U+03A3 (final sigma).
    lowered = ["\0", *"\0".join(everything[1:]).lower().split("\0")]
    candidates = {c for c, low in enumerate(lowered) if low != chr(c)} | {0x3A3}
    lower = {c: chr(c).lower() for c in sorted(candidates) if not 0xD800 <= c <= 0xDFFF}
    return runs(r"\w+"), runs(r"\s+"), {c: low for c, low in lower.items() if low != chr(c)}


def _re2_class(ranges):
    return "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}"
                   for a, b in ranges)


def _re2_literal(text):
    return "".join(f"\\x{{{ord(c):x}}}" for c in text)


class WordTokenizer:
    """``WordVocab.encode`` and ``WordVocab.decode`` as TensorFlow ops.

    Holds hash tables that must be tracked by the exported module (``tables``).

    Args:
        vocab: The ``WordVocab``.
    """

    def __init__(self, vocab):
        if TOKEN.pattern != _EXPECTED_TOKEN:
            raise ValueError(f"seqkit.data.words.TOKEN is {TOKEN.pattern!r}; the in-graph "
                             f"tokenizer reproduces {_EXPECTED_TOKEN!r} only.")
        words, spaces, lower = python_character_tables()
        single = {c: low for c, low in lower.items() if len(low) == 1}
        self._multi = sorted((c, low) for c, low in lower.items() if len(low) > 1)
        word_class, space_class = _re2_class(words), _re2_class(spaces)
        self._space_pattern = f"[{space_class}]+"
        self._token_pattern = f"([{word_class}]+|[^{word_class}{space_class}])"
        self.lower_table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(single), tf.int32),
            tf.constant([ord(v) for v in single.values()], tf.int32)), default_value=-1)
        self.word_table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(vocab.index), tf.string),
            tf.constant(list(vocab.index.values()), tf.int64)), default_value=1)
        self.words = list(vocab.words)
        self.start_id, self.end_id = vocab.start_id, vocab.end_id

    @property
    def tables(self):
        return [self.lower_table, self.word_table]

    def tokens(self, text):
        """Lower-cased tokens of a string batch [B], as a ragged string [B, None]."""
        points = tf.strings.unicode_decode(text, "UTF-8", errors="replace",
                                           replacement_char=0xFFFD)
        flat = points.flat_values
        mapped = self.lower_table.lookup(flat)
        lowered = tf.strings.unicode_encode(
            points.with_flat_values(tf.where(mapped >= 0, mapped, flat)), "UTF-8")
        for point, low in self._multi:  # lower-case forms of several code points (U+0130)
            lowered = tf.strings.regex_replace(lowered, _re2_literal(chr(point)),
                                               low.replace("\\", "\\\\"))
        spaced = tf.strings.regex_replace(lowered, self._space_pattern, " ")
        spaced = tf.strings.regex_replace(spaced, self._token_pattern, " \\1 ")
        parts = tf.strings.split(spaced, sep=" ")
        return tf.ragged.boolean_mask(parts, tf.not_equal(parts, ""))

    def ids(self, text, limit=None):
        """Model input of a string batch: ids int32 [B, T] (right-padded with 0, at least
        one column) and lengths int32 [B]; ``encode(t)[:limit] or [1]`` per row."""
        ids = tf.ragged.map_flat_values(
            lambda t: tf.cast(self.word_table.lookup(t), tf.int32), self.tokens(text))
        if limit is not None:
            ids = ids[:, :limit]
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        dense = ids.to_tensor(default_value=0)
        dense = tf.pad(dense, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(dense)[1])]])
        first = tf.where(tf.equal(lengths, 0), 1, dense[:, 0])
        return tf.concat([first[:, None], dense[:, 1:]], 1), tf.maximum(lengths, 1)

    def decode(self, ids, lengths):
        """``WordVocab.decode`` of ids [B, L] cut at ``lengths`` [B]: string [B]."""
        ids = tf.convert_to_tensor(ids, tf.int32)
        keep = (tf.range(tf.shape(ids)[1])[None, :] < lengths[:, None]) & \
            tf.not_equal(ids, 0) & tf.not_equal(ids, self.start_id)
        size = len(self.words)
        words = tf.gather(tf.constant(self.words, tf.string),
                          tf.clip_by_value(ids, 0, size - 1))
        words = tf.where((ids >= 0) & (ids < size), words, "<unk>")
        return tf.strings.reduce_join(tf.ragged.boolean_mask(words, keep), axis=-1,
                                      separator=" ")


# ---------------------------------------------------------------------------
# Images, in the graph
# ---------------------------------------------------------------------------

_PNG = b"\x89PNG\r\n\x1a\n"


def _header_pixels(raw):
    """Width x height from a PNG, GIF, BMP or JPEG header (int64); -1 for other bytes."""
    padded = tf.strings.join([raw, tf.constant(b"\0" * 32)])

    def field(offset, dtype, little_endian):
        return tf.cast(tf.io.decode_raw(tf.strings.substr(padded, offset, 8 if dtype == tf.int32
                                                          else 4), dtype,
                                        little_endian=little_endian), tf.int64)

    def area(size):
        return tf.reduce_prod(tf.abs(size))

    head = tf.strings.substr(padded, 0, 8)
    is_png = tf.equal(head, _PNG)
    is_gif = tf.equal(tf.strings.substr(head, 0, 6), b"GIF87a") | \
        tf.equal(tf.strings.substr(head, 0, 6), b"GIF89a")
    is_bmp = tf.equal(tf.strings.substr(head, 0, 2), b"BM")
    is_jpeg = tf.equal(tf.strings.substr(head, 0, 3), b"\xff\xd8\xff")
    return tf.case([
        (is_png, lambda: area(field(16, tf.int32, False))),
        (is_gif, lambda: area(field(6, tf.uint16, True))),
        (is_bmp, lambda: area(field(18, tf.int32, True))),
        (is_jpeg, lambda: area(tf.cast(tf.io.extract_jpeg_shape(raw)[:2], tf.int64))),
    ], default=lambda: tf.constant(-1, tf.int64), exclusive=True)


def decode_image(raw, shape, max_pixels=MAX_IMAGE_PIXELS):
    """One encoded image -> uint8 ``shape`` (H, W, C with C 1 or 3); raises
    ``InvalidArgumentError`` for unsupported, corrupt or oversized images."""
    height, width, channels = shape
    pixels = _header_pixels(raw)
    check = _assert((pixels > 0) & (pixels <= max_pixels),
                    "image_bytes must be PNG, JPEG, GIF or BMP of at most", max_pixels,
                    "pixels; header pixels (-1: another format):", pixels)
    with tf.control_dependencies([check]):
        image = tf.io.decode_image(raw, channels=0, expand_animations=False)
    image = tf.ensure_shape(image, [None, None, None])
    depth = tf.shape(image)[2]

    def grey():
        def from_rgb():
            rgb = tf.ensure_shape(image[:, :, :3], [None, None, 3])
            return tf.image.rgb_to_grayscale(rgb)
        return tf.cond(depth >= 3, from_rgb, lambda: image[:, :, :1])

    if channels == 1:
        image = grey()
    else:
        image = tf.cond(depth >= 3, lambda: image[:, :, :3],
                        lambda: tf.image.grayscale_to_rgb(grey()))
    image = tf.ensure_shape(image, [None, None, channels])
    size = tf.shape(image)[:2]
    check = _assert(tf.reduce_all(size > 0), "image_bytes holds an empty image:", size)
    with tf.control_dependencies([check]):
        same = tf.reduce_all(tf.equal(size, [height, width]))

    def resized():
        scaled = tf.image.resize(image, [height, width], method="bilinear", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(scaled), 0.0, 255.0), tf.uint8)

    return tf.ensure_shape(tf.cond(same, lambda: image, resized), [height, width, channels])


def decode_images(data, shape, max_pixels=MAX_IMAGE_PIXELS):
    """A batch of encoded images [B] -> (uint8 [B, *shape], valid bool [B]).

    Each element decodes on its own (a ``tf.data`` pipeline that skips the
    elements whose decoding raised); the rows of invalid elements are zeros.
    """
    count = tf.size(data, out_type=tf.int64)

    def one(i):
        return i, decode_image(data[i], shape, max_pixels)

    decoded = tf.data.Dataset.range(count).map(one).ignore_errors(log_warning=False)
    sentinel = tf.data.Dataset.from_tensors((tf.constant(-1, tf.int64),
                                             tf.zeros(shape, tf.uint8)))
    index, images = decoded.concatenate(sentinel).batch(count + 1).get_single_element()
    keep = index >= 0
    index, images = index[keep][:, None], images[keep]
    full = tf.concat([[count], tf.constant(shape, tf.int64)], 0)
    return (tf.scatter_nd(index, images, full),
            tf.scatter_nd(index, tf.ones_like(index[:, 0], tf.bool), [count]))


def _check_image(image, shape):
    """``image`` after checking that it is [B, *shape] (a clear error otherwise)."""
    check = _assert(tf.reduce_all(tf.equal(tf.shape(image)[1:], shape)),
                    f"image must be uint8 [batch, {', '.join(map(str, shape))}]; received "
                    "shape:", tf.shape(image))
    with tf.control_dependencies([check]):
        return tf.identity(image)


# ---------------------------------------------------------------------------
# Decoding loops, in the graph
# ---------------------------------------------------------------------------

def _per_row(value, key, count):
    """``value`` ([1] or [count]) broadcast to [count], after checking its size."""
    size = tf.size(value)
    check = _assert(tf.equal(size, count) | tf.equal(size, 1),
                    f"{key} must hold one value per row or a single value; rows:", count,
                    f"{key} values received:", size)
    with tf.control_dependencies([check]):
        return tf.broadcast_to(value, [count])


class _Decoding:
    """Greedy and beam search of a ``SequenceDecoder`` inside a graph."""

    def __init__(self, decoder):
        self._decoder = decoder

    def greedy(self, inputs):
        """``SequenceDecoder.greedy``: (ids int32 [B, L], lengths int32 [B])."""
        d = self._decoder
        steps, end = d.max_length, d.end_id
        states, context = d.encode(inputs)
        batch = tf.shape(states[0])[0]
        position = tf.range(steps)[None, :]

        def proceed(t, tokens, done, out, states):
            return (t < steps) & ~tf.reduce_all(done)

        def body(t, tokens, done, out, states):
            log_probs, states = d.step(tokens, states, context)
            tokens = tf.argmax(log_probs, -1, output_type=tf.int32)
            out = tf.where(tf.equal(position, t), tokens[:, None], out)
            return t + 1, tokens, done | tf.equal(tokens, end), out, list(states)

        t, _, _, out, _ = tf.while_loop(proceed, body, [
            tf.constant(0), tf.fill([batch], tf.constant(d.start_id, tf.int32)),
            tf.zeros([batch], tf.bool), tf.zeros([batch, steps], tf.int32), list(states)])
        ended = tf.equal(out, end) & (position < t)
        lengths = tf.where(tf.reduce_any(ended, 1),
                           tf.argmax(tf.cast(ended, tf.int32), 1, output_type=tf.int32), t)
        return out, lengths

    def beam(self, inputs, widths):
        """``SequenceDecoder.beam`` with ``widths`` [B] beams per row: (ids, lengths)."""
        d = self._decoder
        steps, end, start = d.max_length, d.end_id, d.start_id
        states, context = d.encode(inputs)
        batch = tf.shape(states[0])[0]
        beams = tf.maximum(tf.reduce_max(widths), 1)
        states = [tf.repeat(s, beams, axis=0) for s in states]
        context = {k: tf.repeat(v, beams, axis=0) for k, v in context.items()}
        minus_inf = tf.constant(-np.inf, tf.float64)
        slot = tf.range(beams)[None, :]
        in_width = slot < widths[:, None]
        position = tf.range(steps)[None, None, :]
        offsets = tf.range(batch)[:, None] * beams

        def proceed(t, scores, seqs, states, best, best_seq, best_len, done):
            return (t < steps) & ~tf.reduce_all(done)

        def body(t, scores, seqs, states, best, best_seq, best_len, done):
            last = tf.where(tf.equal(t, 0), start, tf.gather(seqs, tf.maximum(t - 1, 0),
                                                              axis=2))
            log_probs, new_states = d.step(tf.reshape(last, [-1]), states, context)
            vocab = tf.shape(log_probs)[-1]
            candidates = scores[:, :, None] + tf.cast(
                tf.reshape(log_probs, [batch, beams, vocab]), tf.float64)
            values, picks = tf.math.top_k(tf.reshape(candidates, [batch, beams * vocab]),
                                          k=beams)
            rows, tokens = picks // vocab, picks % vocab
            valid = in_width & (values > minus_inf)
            ended = valid & tf.equal(tokens, end)
            alive = valid & ~ended
            # The best hypothesis finished now: the first ended pick (picks are sorted).
            first = tf.argmax(tf.cast(ended, tf.int32), 1, output_type=tf.int32)
            score = tf.gather(values, first, batch_dims=1)
            better = tf.reduce_any(ended, 1) & ~done & (score > best)
            best = tf.where(better, score, best)
            best_seq = tf.where(better[:, None], tf.gather(
                seqs, tf.gather(rows, first, batch_dims=1), batch_dims=1), best_seq)
            best_len = tf.where(better, t, best_len)
            # Live hypotheses first, in score order (the decoder's list of alive beams).
            order = tf.argsort(tf.cast(~alive, tf.int32), axis=1, stable=True)
            alive = tf.gather(alive, order, batch_dims=1)
            rows = tf.gather(rows, order, batch_dims=1)
            scores = tf.where(alive, tf.gather(values, order, batch_dims=1), minus_inf)
            seqs = tf.where(tf.equal(position, t),
                            tf.gather(tokens, order, batch_dims=1)[:, :, None],
                            tf.gather(seqs, rows, batch_dims=1))
            flat_rows = tf.reshape(rows + offsets, [-1])
            states = [tf.gather(s, flat_rows) for s in new_states]
            stop = ~tf.reduce_any(alive, 1) | ((best > minus_inf) & (best >= scores[:, 0]))
            return t + 1, scores, seqs, states, best, best_seq, best_len, done | stop

        initial = tf.where(tf.equal(slot, 0), tf.constant(0.0, tf.float64), minus_inf)
        _, _, seqs, _, _, best_seq, best_len, done = tf.while_loop(proceed, body, [
            tf.constant(0), tf.tile(initial, [batch, 1]),
            tf.zeros([batch, beams, steps], tf.int32), states,
            tf.fill([batch], minus_inf), tf.zeros([batch, steps], tf.int32),
            tf.zeros([batch], tf.int32), tf.zeros([batch], tf.bool)])
        # A row that stopped returns its best finished hypothesis; one that ran every
        # step, its best live one (which then scores higher than any finished one).
        ids = tf.where(done[:, None], best_seq, seqs[:, 0, :])
        return ids, tf.where(done, best_len, steps)

    def checked_widths(self, widths, count):
        check = _assert(tf.reduce_all((widths >= 1) & (widths <= MAX_BEAM_WIDTH)),
                        f"beam_width must be in [1, {MAX_BEAM_WIDTH}], received:", widths)
        with tf.control_dependencies([check]):
            return _per_row(widths, "beam_width", count)


# ---------------------------------------------------------------------------
# The exported modules
# ---------------------------------------------------------------------------

def _string(key):
    return tf.TensorSpec([None], tf.string, name=key)


def _widths():
    return tf.TensorSpec([None], tf.int32, name="beam_width")


class _Export(tf.Module):
    """Tracks a model's variables; subclasses list their functions in ``_functions``."""

    def __init__(self, model, name):
        super().__init__(name=name)
        self.model_variables = list(model.variables)
        self._functions = _Untracked()

    def _add(self, key, function, *specs):
        setattr(self._functions, key, tf.function(function, input_signature=list(specs)))

    def signatures(self):
        """``{signature key: concrete function}`` for ``tf.saved_model.save``."""
        functions = {key: fn.get_concrete_function()
                     for key, fn in vars(self._functions).items()}
        return {"serving_default": functions[self._default], **functions}


class ClassifierExport(_Export):
    """The servable functions of a many-to-one classifier (``build_many_to_one``).

    Args:
        model: The classifier (input ``tokens`` or ``frames``).
        class_names: Name of each class, in id order.
        vocab: Its ``WordVocab`` (token input), or None (frames: image rows).
        max_tokens: Tokens kept per text (``data.max_tokens``), or None.
        image_shape: (rows, width) of the images read as frames.
    """

    def __init__(self, model, class_names, vocab=None, max_tokens=None,
                 image_shape=IMAGE_ROWS_SHAPE):
        super().__init__(model, "seqkit_classifier")
        self._model = _Untracked(model=model)
        classes = int(model.output["probabilities"].shape[-1])
        if len(class_names) != classes:
            raise ValueError(f"The model has {classes} classes; received {len(class_names)} "
                             f"class names: {list(class_names)!r:.300}.")
        self._class_names = [str(c) for c in class_names]
        self._default = "classify"
        if "tokens" in model.input:
            if vocab is None:
                raise ValueError("A classifier of token sequences needs its WordVocab.")
            self._tokenizer = WordTokenizer(vocab)
            self.tables = self._tokenizer.tables
            self._max_tokens = max_tokens
            self._add("classify", self._classify_text, _string("text"))
            self._add("tokenize", self._tokenize, _string("text"))
        else:
            width = int(model.input["frames"].shape[-1])
            if image_shape[1] != width:
                raise ValueError(f"The model reads rows of {width} pixels; image_shape is "
                                 f"{tuple(image_shape)}.")
            self._image_shape = tuple(int(s) for s in image_shape)
            self._add("classify", self._classify_image,
                      tf.TensorSpec([None, *self._image_shape], tf.uint8, name="image"))
            self._add("classify_bytes", self._classify_bytes, _string("image_bytes"))

    def _outputs(self, probabilities, valid=None):
        probabilities = tf.cast(probabilities, tf.float32)
        class_id = tf.argmax(probabilities, -1, output_type=tf.int32)
        names = tf.constant(self._class_names, tf.string)
        label = tf.gather(names, class_id)
        batch = tf.shape(probabilities)[0]
        outputs = {"probabilities": probabilities, "class_id": class_id, "label": label,
                   "class_names": tf.tile(names[None, :], [batch, 1])}
        if valid is not None:
            outputs["probabilities"] = tf.where(valid[:, None], probabilities, 0.0)
            outputs["class_id"] = tf.where(valid, class_id, -1)
            outputs["label"] = tf.where(valid, label, "")
            outputs["valid"] = valid
        return outputs

    def _tokenize(self, text):
        tokens, length = self._tokenizer.ids(text, self._max_tokens)
        return {"tokens": tokens, "length": length}

    def _classify_text(self, text):
        tokens, _ = self._tokenizer.ids(text, self._max_tokens)
        return self._outputs(self._model.model({"tokens": tokens}, training=False)
                             ["probabilities"])

    def _frames(self, image):
        return tf.cast(image, tf.float32) / 255.0

    def _classify_image(self, image):
        image = _check_image(image, self._image_shape)
        return self._outputs(self._model.model({"frames": self._frames(image)},
                                               training=False)["probabilities"])

    def _classify_bytes(self, image_bytes):
        images, valid = decode_images(image_bytes, (*self._image_shape, 1))
        probabilities = self._model.model({"frames": self._frames(images[..., 0])},
                                          training=False)["probabilities"]
        return self._outputs(probabilities, valid)


class CaptionExport(_Export):
    """The servable functions of an image captioner (``build_one_to_many``).

    Args:
        model: The captioner (inputs ``image``, ``tokens``).
        vocab: Its caption ``WordVocab``.
        max_length: Most words per caption (``eval.max_length``).
    """

    def __init__(self, model, vocab, max_length):
        from seqkit.generate import SequenceDecoder

        super().__init__(model, "seqkit_captioner")
        shape = tuple(model.input["image"].shape[1:])
        if len(shape) != 3 or None in shape or shape[-1] not in (1, 3):
            raise ValueError(f"The captioner's images must have a fixed (height, width, 1 or "
                             f"3) shape; its input shape is {shape}.")
        self._shape = tuple(int(s) for s in shape)
        self._decoding = _Decoding(SequenceDecoder(model, vocab.start_id, vocab.end_id,
                                                   max_length))
        self._tokenizer = WordTokenizer(vocab)
        self.tables = self._tokenizer.tables
        self._default = "caption_bytes"
        image = tf.TensorSpec([None, *self._shape], tf.uint8, name="image")
        self._add("caption_bytes", self._caption_bytes, _string("image_bytes"))
        self._add("caption_image", self._caption_image, image)
        self._add("beam_bytes", self._beam_bytes, _string("image_bytes"), _widths())
        self._add("beam_image", self._beam_image, image, _widths())

    def _captions(self, images, widths=None):
        """Greedy (``widths`` None) or beam-search captions of uint8 images [B, H, W, C]."""
        def decode():
            inputs = {"image": tf.cast(images, tf.float32)}
            decoded = self._decoding.greedy(inputs) if widths is None else \
                self._decoding.beam(inputs, widths)
            return self._tokenizer.decode(*decoded)

        # Keras' convolutions fail on an empty batch: answer it without the model.
        return tf.cond(tf.shape(images)[0] > 0, decode, lambda: tf.zeros([0], tf.string))

    def _caption_image(self, image):
        return {"caption": self._captions(_check_image(image, self._shape))}

    def _beam_image(self, image, beam_width):
        image = _check_image(image, self._shape)
        widths = self._decoding.checked_widths(beam_width, tf.shape(image)[0])
        return {"caption": self._captions(image, widths)}

    def _caption_bytes(self, image_bytes):
        images, valid = decode_images(image_bytes, self._shape)
        return {"caption": tf.where(valid, self._captions(images), ""), "valid": valid}

    def _beam_bytes(self, image_bytes, beam_width):
        widths = self._decoding.checked_widths(beam_width, tf.size(image_bytes))
        images, valid = decode_images(image_bytes, self._shape)
        return {"caption": tf.where(valid, self._captions(images, widths), ""), "valid": valid}


class TranslationExport(_Export):
    """The servable functions of a seq2seq translator (``build_seq2seq``).

    Args:
        model: The translator (inputs ``source``, ``target_in``).
        source_vocab, target_vocab: Its ``WordVocab``s.
        max_length: Most words per translation (``eval.max_length``).
        max_source_tokens: Source tokens read (the rest is dropped).
    """

    def __init__(self, model, source_vocab, target_vocab, max_length,
                 max_source_tokens=MAX_SOURCE_TOKENS):
        from seqkit.generate import SequenceDecoder

        super().__init__(model, "seqkit_translator")
        self._decoding = _Decoding(SequenceDecoder(model, target_vocab.start_id,
                                                   target_vocab.end_id, max_length))
        self._source = WordTokenizer(source_vocab)
        self._target = WordTokenizer(target_vocab)
        self.tables = [*self._source.tables, *self._target.tables]
        self._max_source_tokens = int(max_source_tokens)
        self._default = "translate"
        self._add("translate", self._translate, _string("source"))
        self._add("beam", self._beam, _string("source"), _widths())
        self._add("tokenize", self._tokenize, _string("source"))

    def _ids(self, source):
        return self._source.ids(source, self._max_source_tokens)

    def _tokenize(self, source):
        tokens, length = self._ids(source)
        return {"tokens": tokens, "length": length}

    def _translate(self, source):
        ids, _ = self._ids(source)
        return {"translation": self._target.decode(*self._decoding.greedy({"source": ids}))}

    def _beam(self, source, beam_width):
        widths = self._decoding.checked_widths(beam_width, tf.size(source))
        ids, _ = self._ids(source)
        return {"translation": self._target.decode(*self._decoding.beam({"source": ids},
                                                                        widths))}


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------

def _vocab_text(vocab):
    """The text ``vocab.save`` writes."""
    with tempfile.TemporaryDirectory(prefix="seqkit-vocab-") as staging:
        vocab.save(Path(staging) / "vocab.json")
        return (Path(staging) / "vocab.json").read_text(encoding="utf-8")


def export_classifier(model, class_names, base="saved_models", name="model", *, vocab=None,
                      max_tokens=None, config=None, metrics=None, absolute_paths=False):
    """Exports an in-memory classifier as the next version of ``base/name``."""
    _check_name(name)
    module = ClassifierExport(model, class_names, vocab=vocab, max_tokens=max_tokens)
    side = {"vocab.json": _vocab_text(vocab)} if vocab is not None else {}
    return export_module_with_files(module, base, name, side, config, metrics, absolute_paths)


def export_captioner(model, vocab, max_length, base="saved_models", name="model", *,
                     config=None, metrics=None, absolute_paths=False):
    """Exports an in-memory captioner as the next version of ``base/name``."""
    _check_name(name)
    module = CaptionExport(model, vocab, max_length)
    return export_module_with_files(module, base, name, {"vocab.json": _vocab_text(vocab)},
                                    config, metrics, absolute_paths)


def export_translator(model, source_vocab, target_vocab, max_length, base="saved_models",
                      name="model", *, config=None, metrics=None, absolute_paths=False):
    """Exports an in-memory translator as the next version of ``base/name``."""
    _check_name(name)
    module = TranslationExport(model, source_vocab, target_vocab, max_length)
    side = {"source_vocab.json": _vocab_text(source_vocab),
            "target_vocab.json": _vocab_text(target_vocab)}
    return export_module_with_files(module, base, name, side, config, metrics, absolute_paths)


def _class_names(config, metrics, count):
    names = (metrics or {}).get("class_names")
    if names is None:
        from seqkit.data.images import FASHION_MNIST_CLASSES
        from seqkit.data.sentiment import TWEET_CLASSES

        data = config.get("data") or {}
        names = FASHION_MNIST_CLASSES if data.get("source") == "image_rows" else \
            TWEET_CLASSES if data.get("dataset") == "tweets" else None
    if names is None or len(names) != count:
        names = [str(i) for i in range(count)]
    return list(names)


def _load(run_dir, files):
    import keras

    import seqkit.builders  # noqa: F401  (registers RepeatOverTime)
    import seqkit.layers  # noqa: F401  (registers the serialisable layers)

    missing = [f for f in ("model.keras", *files) if not (run_dir / f).exists()]
    if missing:
        raise ValueError(f"{str(run_dir)!r} is not a trained run directory: missing {missing}.")
    return keras.saving.load_model(run_dir / "model.keras", compile=False)


def _max_length(config):
    value = config.get("eval", {}).get("max_length")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"config eval.max_length must be a positive int, received {value!r}.")
    return value


def export_task_run(run_dir, config, metrics, base, name, max_length=None,
                    absolute_paths=False):
    """``seqkit.export.EXPORTERS``'s entry for ``classify``, ``caption`` and ``translate``.

    ``max_length`` (the character LMs' ``generate`` limit) does not apply: captions
    and translations are at most the run's ``eval.max_length`` words.
    """
    run_dir = Path(run_dir)
    task = config["task"]
    if task == "classify":
        data = config.get("data") or {}
        text = data.get("source", "text") == "text"
        model = _load(run_dir, ["vocab.json"] if text else [])
        count = int(model.output["probabilities"].shape[-1])
        vocab = WordVocab.load(run_dir / "vocab.json") if text else None
        return export_classifier(model, _class_names(config, metrics, count), base, name,
                                 vocab=vocab, max_tokens=data.get("max_tokens"),
                                 config=config, metrics=metrics,
                                 absolute_paths=absolute_paths)
    if task == "caption":
        model = _load(run_dir, ["vocab.json"])
        return export_captioner(model, WordVocab.load(run_dir / "vocab.json"),
                                _max_length(config), base, name, config=config,
                                metrics=metrics, absolute_paths=absolute_paths)
    if task == "translate":
        model = _load(run_dir, ["source_vocab.json", "target_vocab.json"])
        return export_translator(model, WordVocab.load(run_dir / "source_vocab.json"),
                                 WordVocab.load(run_dir / "target_vocab.json"),
                                 _max_length(config), base, name, config=config,
                                 metrics=metrics, absolute_paths=absolute_paths)
    raise ValueError(f"export_task_run exports classify, caption and translate runs; "
                     f"received task {task!r}.")
