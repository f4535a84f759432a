import math

import numpy as np
import pytest
import tensorflow as tf

from seqkit import metrics
from seqkit.metrics import (
    accuracy,
    bits_per_char,
    bleu,
    chrf,
    exact_match,
    majority_baseline,
    majority_class,
    nats_from_bits,
    perplexity,
)

# sacrebleu's README example: two reference streams for three segments.
README_REFS = [
    ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
    ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
]
README_SYS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
# Our layout: references per segment, not per stream.
README_PER_SEGMENT = [list(refs) for refs in zip(*README_REFS)]


# --------------------------------------------------------------------------- BLEU / chrF


def test_identical_corpus_scores_100():
    texts = ["the quick brown fox jumps", "over the lazy dog today", "a b c d e f"]
    assert bleu(texts, texts) == 100.0
    assert chrf(texts, texts) == 100.0
    assert chrf(texts, texts, word_order=2) == 100.0


def test_disjoint_corpus_scores_0():
    assert bleu(["x y z w"], ["a b c d"]) == 0.0
    assert chrf(["xyz"], ["abc"]) == 0.0


def test_sacrebleu_readme_values():
    assert bleu(README_SYS, README_PER_SEGMENT) == pytest.approx(48.53, abs=0.005)
    assert chrf(README_SYS, README_PER_SEGMENT) == pytest.approx(59.73, abs=0.005)
    # One reference per segment, given as plain strings.
    single = bleu(README_SYS, README_REFS[0])
    assert single == pytest.approx(45.07, abs=0.005)
    assert single == bleu(README_SYS, [[r] for r in README_REFS[0]])


def test_scores_are_plain_floats_in_range():
    for score in (bleu(README_SYS, README_REFS[1]), chrf(README_SYS, README_REFS[1])):
        assert type(score) is float and 0.0 < score < 100.0


def test_variable_number_of_references():
    # The second segment has only one reference; the missing one is skipped.
    refs = [README_PER_SEGMENT[0], README_PER_SEGMENT[1][:1], README_PER_SEGMENT[2]]
    score = bleu(README_SYS, refs)
    assert 0.0 < score < 100.0
    assert bleu(["the cat is on the mat"], [["a cat on a mat", "the cat is on the mat"]]) == 100.0


def test_bleu_is_corpus_level_not_a_mean_of_sentences():
    # Short segments have no 4-gram on their own but do as a corpus with a long one.
    hyps = ["the cat", "sat on the mat today"]
    score = bleu(hyps, hyps)
    assert score == 100.0
    assert bleu(["the cat"], ["the cat"]) == 0.0  # no 4-gram at all: documented


def test_bytes_numpy_and_tensor_inputs():
    hyps = ["le chat est sur le tapis", "il pleut"]
    refs = ["le chat est sur le tapis", "il neige"]
    expected = bleu(hyps, refs)
    as_bytes = [h.encode() for h in hyps]
    assert bleu(np.array(as_bytes, dtype=object), np.array(refs)) == expected
    assert bleu(tf.constant(hyps), tf.constant(refs)) == expected
    assert chrf(tf.constant(hyps), refs) == chrf(hyps, refs)


def test_options():
    assert bleu(["THE CAT IS ON THE MAT"], ["the cat is on the mat"], lowercase=True) == 100.0
    assert bleu(["THE CAT IS ON THE MAT"], ["the cat is on the mat"]) == 0.0
    assert chrf(["ABC"], ["abc"], lowercase=True) == 100.0
    assert bleu(["猫がいる"], ["猫がいる"], tokenize="char") == 100.0


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda: bleu([], []), "hypotheses is empty"),
        (lambda: bleu(["a"], ["a", "b"]), "received 2 references for 1 hypotheses"),
        (lambda: bleu(["a"], [[]]), r"references\[0\] is empty"),
        (lambda: bleu(["a"], ["a"], tokenize="moses"), "tokenize must be one of .*'moses'"),
        (lambda: bleu(["a"], ["a"], smooth_method="lin"), "smooth_method .*'lin'"),
        (lambda: chrf(["a"], ["a"], char_order=0), "char_order must be an int >= 1, received 0"),
        (lambda: exact_match(["a"], []), "received 0 references"),
    ],
)
def test_bad_arguments_raise_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="sequence of texts"):
        bleu("a whole string", ["a whole string"])
    with pytest.raises(TypeError, match="received int"):
        chrf([1], ["a"])


# --------------------------------------------------------------------------- exact match


def test_exact_match():
    assert exact_match(["a b", "c", "d"], ["a  b ", ["x", "c"], "e"]) == pytest.approx(2 / 3)
    assert exact_match(["A"], ["a"]) == 0.0
    assert exact_match(["A"], ["a"], lowercase=True) == 1.0
    assert exact_match(["a "], ["a"], strip=False) == 0.0


# --------------------------------------------------------------------------- language models


def test_perplexity_and_bits():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(65)) == pytest.approx(65.0)
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert bits_per_char(math.log(256)) == pytest.approx(8.0)
    assert nats_from_bits(bits_per_char(1.234)) == pytest.approx(1.234)
    assert perplexity(np.float32(1.0)) == pytest.approx(math.e, rel=1e-6)
    assert perplexity(tf.constant(1.0)) == pytest.approx(math.e, rel=1e-6)
    assert perplexity(1000.0) == math.inf


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "1.0x", None])
def test_bad_nats(bad):
    with pytest.raises(ValueError, match="mean_nats"):
        perplexity(bad)
    with pytest.raises(ValueError, match="mean_nats"):
        bits_per_char(bad)


# --------------------------------------------------------------------------- classification


def test_accuracy_from_ids_and_scores():
    assert accuracy([0, 1, 2, 1], [0, 1, 1, 1]) == 0.75
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    assert accuracy(np.array([0, 1, 1]), logits) == pytest.approx(2 / 3)
    assert accuracy(tf.constant([1, 1]), tf.constant([[0.1, 0.9], [0.8, 0.2]])) == 0.5
    with pytest.raises(ValueError, match="same length, received 2 and 3"):
        accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])
    with pytest.raises(ValueError, match="integer class ids"):
        accuracy([0.5, 1.0], [0, 1])


def test_majority_baseline():
    assert majority_class([2, 1, 2, 1, 0]) == 1  # ties go to the smallest id
    assert majority_baseline([0, 0, 1, 2]) == 0.5
    assert majority_baseline([0, 0, 1], [0, 1, 1, 1]) == 0.25
    assert majority_baseline(np.array([3, 3]), np.array([1, 2])) == 0.0
    with pytest.raises(ValueError, match="non-empty"):
        majority_baseline([])
    with pytest.raises(ValueError, match="eval_labels is empty"):
        majority_baseline([1], [])


def test_public_names():
    for name in metrics.__all__:
        assert callable(getattr(metrics, name))
