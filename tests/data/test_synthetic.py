"""The synthetic tasks of Jozefowicz et al. (2015): arithmetic and XML."""

import re

import numpy as np
import pytest

from seqkit.data.synthetic import (
    ARITHMETIC_ALPHABET,
    DISTRACTORS,
    XML_ALPHABET,
    arithmetic_problem,
    closing_mask,
    load_arithmetic,
    load_xml,
    xml_document,
)


def test_arithmetic_problems_are_correct_once_the_distractors_are_removed():
    rng = np.random.default_rng(3)
    saw_distractor = False
    for _ in range(300):
        text, start = arithmetic_problem(rng, max_digits=5, distractor_prob=0.4)
        assert set(text) <= set(ARITHMETIC_ALPHABET) and text.endswith(".")
        question, answer = text[:start - 1], text[start:-1]
        assert text[start - 1] == "=" and "=" not in question
        saw_distractor |= any(c in DISTRACTORS for c in question)
        clean = "".join(c for c in question if c not in DISTRACTORS)
        a, op, b = re.fullmatch(r"(\d+)([+-])(\d+)", clean).groups()
        assert max(len(a), len(b)) <= 5
        assert int(answer) == (int(a) + int(b) if op == "+" else int(a) - int(b))
    assert saw_distractor


def test_xml_documents_nest_and_the_closing_mask_marks_determined_characters():
    rng = np.random.default_rng(0)
    for _ in range(100):
        text = xml_document(rng, max_depth=3, max_children=2, max_name_length=3, max_length=48)
        assert len(text) <= 48 and set(text) <= set(XML_ALPHABET)
        stack = []
        for tag in re.findall(r"<(/?)([a-z]+)>", text):
            if tag[0]:
                assert stack.pop() == tag[1]
            else:
                stack.append(tag[1])
        assert not stack
    assert closing_mask("<ab><c></c></ab>") == [0] * 7 + [0, 0, 1, 1] + [0, 0, 1, 1, 1]


def test_builders_are_deterministic_and_splits_differ():
    sizes = dict(num_train=40, num_validation=10, num_test=10)
    train = load_arithmetic("train", **sizes)
    assert train == load_arithmetic("train", **sizes) and len(train) == 40
    assert train[0] == "5b600+34i2hh=5942."     # the docstring example (same seed)
    assert load_arithmetic("test", **sizes) != train[:10]
    xml = load_xml("validation", **sizes, max_length=32)
    assert len(xml) == 10 and all(len(t) <= 32 for t in xml)
    assert load_xml("validation", **sizes, seed=1, max_length=32) != xml


def test_bad_arguments_name_the_received_value():
    with pytest.raises(ValueError, match=r"'dev'.*'train', 'validation', 'test'"):
        load_arithmetic("dev")
    with pytest.raises(ValueError, match=r"max_digits must be an int >= 1, received 0"):
        load_arithmetic(max_digits=0)
    with pytest.raises(ValueError, match=r"distractor_prob.*received 1.5"):
        load_arithmetic(distractor_prob=1.5)
    with pytest.raises(ValueError, match=r"max_length.*received 5"):
        load_xml(max_length=5)
