import keras
import numpy as np
import pytest

from seqkit.builders import (
    build_many_to_many,
    build_many_to_one,
    build_one_to_many,
    build_seq2seq,
    initializer,
)
from seqkit.cells import CELLS
from seqkit.generate import SequenceDecoder

# One cell from each family file (vanilla, lstm, gru, mut, minimal...), picked from the registry.
FAMILIES = sorted({cls.__module__: name for name, cls in sorted(CELLS.items(), reverse=True)}
                  .values())
RNG = np.random.default_rng(0)


def covering(options):
    """Every family with one of ``options`` (cycled) in `make test`; every other pair -m slow.

    Each family and each option is still exercised in the default run, at a fraction of
    the cost of the full product (kept under 15 minutes on 2 cores).
    """
    return [
        pytest.param(cell, option, marks=() if option == options[k % len(options)]
                     else pytest.mark.slow)
        for k, cell in enumerate(FAMILIES) for option in options
    ]


def _fit_lowers_loss(model, x, y, epochs=12):
    model.compile(keras.optimizers.Adam(0.02), model.loss)
    before = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert after < 0.8 * before, (before, after)


def _tokens(n, length, vocab, pad=True):
    ids = RNG.integers(3, vocab, size=(n, length)).astype("int32")
    if pad:
        for row in range(n):
            ids[row, RNG.integers(2, length + 1):] = 0
    return ids


@pytest.mark.parametrize("cell", FAMILIES)
def test_many_to_many(cell):
    model = build_many_to_many(cell, 16, 10, depth=2, embedding_dim=8)
    x = _tokens(64, 12, 10, pad=False)
    _fit_lowers_loss(model, {"tokens": x}, {"logits": np.roll(x, 1, axis=1)})


@pytest.mark.parametrize("cell", FAMILIES)
def test_many_to_one_tokens_and_frames(cell):
    x = _tokens(96, 10, 20)
    y = (x == 5).any(axis=1).astype("int32")  # does token 5 occur?
    model = build_many_to_one(cell, 16, 2, vocab_size=20, embedding_dim=8)
    assert set(model.input) == {"tokens"} and set(model.output) == {"probabilities"}
    _fit_lowers_loss(model, {"tokens": x}, {"probabilities": y}, epochs=20)
    frames = RNG.standard_normal((64, 6, 3)).astype("float32")
    model = build_many_to_one(cell, 8, 2, input_dim=3)
    label = (frames[:, :, 0].sum(1) > 0) * 1   # the sign of a running sum
    _fit_lowers_loss(model, {"frames": frames}, {"probabilities": label})


def _caption_data(n=48):
    images = RNG.integers(0, 255, size=(n, 8, 16, 1)).astype("uint8")
    bright = (images[:, :, :8].mean((1, 2, 3)) > images[:, :, 8:].mean((1, 2, 3))) * 1
    captions = np.stack([np.full(n, 1), 3 + bright, 5 - bright, np.full(n, 2)], 1)  # START w w END
    return images, captions.astype("int32")


@pytest.mark.parametrize("cell, conditioning", covering(["input", "initial_state"]))
def test_one_to_many(cell, conditioning):
    images, captions = _caption_data()
    model = build_one_to_many(cell, 16, 6, (8, 16, 1), conditioning=conditioning,
                              encoder_filters=(4,), features=8)
    _fit_lowers_loss(model, {"image": images, "tokens": captions[:, :-1]},
                     {"logits": captions[:, 1:]})
    decoder = SequenceDecoder(model, start_id=1, end_id=2, max_length=5)
    greedy = decoder.greedy({"image": images[:4]})
    assert all(len(seq) <= 5 for seq in greedy)
    assert decoder.beam({"image": images[:4]}, width=1) == greedy


@pytest.mark.parametrize("cell, attention", covering([None, "luong", "bahdanau"]))
def test_seq2seq(cell, attention):
    source = _tokens(64, 6, 9)
    target = np.concatenate([np.ones((64, 1), "int32"), source, np.zeros((64, 1), "int32")], 1)
    target[np.arange(64), (source != 0).sum(1) + 1] = 2   # START copy END
    model = build_seq2seq(cell, 16, 9, 9, attention=attention, embedding_dim=8)
    _fit_lowers_loss(model, {"source": source, "target_in": target[:, :-1]},
                     {"logits": target[:, 1:]})
    decoder = SequenceDecoder(model, start_id=1, end_id=2, max_length=8)
    # Greedy decoding equals the argmax of the teacher-forced model fed its own outputs.
    out = decoder.greedy({"source": source[:3]})
    for row, seq in enumerate(out):
        fed = np.array([[1] + seq])
        logits = model.predict({"source": source[row:row + 1], "target_in": fed}, verbose=0)
        argmax = np.argmax(logits["logits"][0], -1)
        assert list(argmax[:len(seq)]) == seq
        assert len(seq) == 8 or argmax[len(seq)] == 2
    assert decoder.beam({"source": source[:3]}, width=1) == out


def test_decoding_stops_at_end_and_at_max_length():
    model = build_seq2seq("gru", 4, 5, 5)
    logits = model.get_layer("logits")
    kernel, bias = logits.get_weights()
    bias[:] = 0
    bias[2] = 50.0                      # <END> always wins
    logits.set_weights([kernel * 0, bias])
    decoder = SequenceDecoder(model, start_id=1, end_id=2, max_length=6)
    source = {"source": np.array([[3, 4, 0]])}
    assert decoder.greedy(source) == [[]] and decoder.beam(source, width=3) == [[]]
    bias[2], bias[4] = 0.0, 50.0        # token 4 always wins: runs to max_length
    logits.set_weights([kernel * 0, bias])
    assert decoder.greedy(source) == [[4] * 6] and decoder.beam(source, width=3) == [[4] * 6]


@pytest.mark.parametrize("call, match", [
    (lambda: build_many_to_one("lstm", 4, 2), "exactly one of vocab_size"),
    (lambda: build_one_to_many("lstm", 4, 5, (8, 8, 1), conditioning="both"),
     "'both'.*'input', 'initial_state'"),
    (lambda: build_seq2seq("lstm", 4, 5, 5, attention="dot"), "'dot'.*'luong'"),
    (lambda: build_seq2seq("lsm", 4, 5, 5), "'lsm'"),
    (lambda: initializer("gauss:1"), "'gauss:1'"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
