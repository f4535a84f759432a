"""Scoring of the Jozefowicz et al. tasks: masked character metrics and piano-roll NLL.
(The recipes themselves train end to end in tests/test_tune.py.)"""

import math

import numpy as np
import pytest

from seqkit.builders import build_many_to_many
from seqkit.tasks.arithmetic import answer_weights
from seqkit.tasks.masked import (
    CharTable,
    FrameNLL,
    MaskedStepMetric,
    char_arrays,
    frame_nll,
    masked_cross_entropy,
)


def test_char_arrays_shift_and_weight_the_answer():
    table = CharTable("0123456789+-=.")
    x, y = char_arrays(["1+2=3.", "10-1=9."], table, answer_weights, answer_weights)
    assert x.shape == (2, 6) and y.shape == (2, 6, 3)
    assert x[0].tolist() == table.encode("1+2=3") + [0]
    assert y[0, :, 0].tolist() == table.encode("+2=3.") + [0]
    assert y[0, :, 1].tolist() == [0, 0, 0, 1, 1, 0]                # "3" and "."
    with pytest.raises(ValueError, match=r"'x' of '1x2'"):
        table.encode("1x2")


def test_masked_metrics_count_only_scored_steps():
    # two sequences, vocabulary 3; logits favour class 1 everywhere
    logits = np.log(np.array([0.1, 0.8, 0.1], np.float32)) * np.ones((2, 3, 1), np.float32)
    targets = np.array([[1, 2, 1], [1, 1, 0]])
    loss_w = np.array([[1, 1, 1], [1, 1, 0]])
    metric_w = np.array([[0, 1, 1], [1, 1, 0]])
    y = np.stack([targets, loss_w, metric_w], -1)
    expected = (4 * -math.log(0.8) + -math.log(0.1)) / 5
    assert float(masked_cross_entropy(y, logits)) == pytest.approx(expected, rel=1e-5)
    results = {}
    for kind in MaskedStepMetric.KINDS:
        metric = MaskedStepMetric(kind)
        metric.update_state(y, logits)
        results[kind] = float(metric.result())
    assert results["accuracy"] == pytest.approx(3 / 4)
    assert results["exact"] == pytest.approx(1 / 2)                  # second sequence only
    assert results["nats"] == pytest.approx((3 * -math.log(0.8) - math.log(0.1)) / 4, rel=1e-5)
    with pytest.raises(ValueError, match=r"'bleu'.*'accuracy', 'nats', 'exact'"):
        MaskedStepMetric("bleu")


def test_frame_nll_sums_keys_and_skips_padded_frames():
    logits = np.zeros((1, 3, 4), np.float32)                          # p = 0.5 for every key
    y = np.array([[[1, 0, 1, 0], [0, 0, 0, 0], [-1, -1, -1, -1]]], np.float32)
    assert float(frame_nll(y, logits)) == pytest.approx(4 * math.log(2), rel=1e-5)
    metric = FrameNLL()
    metric.update_state(y, logits)
    metric.update_state(y[:, :1], logits[:, :1])
    assert float(metric.result()) == pytest.approx(4 * math.log(2), rel=1e-5)


def test_many_to_many_takes_float_frames():
    model = build_many_to_many("lstm_cifg", 8, 88, input_dim=88)
    assert list(model.input) == ["frames"] and model.input["frames"].shape[1:] == (None, 88)
    out = model.predict({"frames": np.zeros((2, 5, 88), np.float32)}, verbose=0)
    assert out["logits"].shape == (2, 5, 88)
