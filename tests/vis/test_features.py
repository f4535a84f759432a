import numpy as np
import pytest

from seqkit.vis.features import FEATURES, feature_signals, register_feature


def values(name, text):
    return feature_signals(text, [name])[name].tolist()


def test_bracket_and_brace_depth():
    assert values("bracket_depth", "a(b{c})") == [0, 1, 1, 2, 2, 1, 0]
    assert values("brace_depth", "{(})}") == [1, 1, 0, 0, 0]  # never below zero
    assert values("paren_depth", "f(g(x))") == [0, 1, 1, 2, 2, 1, 0]


def test_quotes_understand_escapes_and_comments():
    assert values("in_quotes", 'x = "a";') == [0, 0, 0, 0, 1, 1, 0, 0]
    assert values("in_quotes", '"a\\"b"c') == [1, 1, 1, 1, 1, 0, 0]
    assert values("in_quotes", '/* "x" */') == [0] * 9
    assert values("in_comment", 'a /* b */ c') == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0]
    assert values("in_comment", 'x; // y\nz') == [0, 0, 0, 1, 1, 1, 1, 0, 0]
    assert values("in_comment", '"/*" x') == [0] * 6


def test_line_word_and_line_features():
    assert values("line_position", "ab\ncd") == [1, 2, 0, 1, 2]
    assert values("word_position", "ab cd") == [1, 2, 0, 1, 2]
    assert values("preprocessor_line", "#if X\nint") == [1] * 5 + [0] * 4
    assert values("speaker_line", "ROMEO.\nHi") == [1] * 6 + [0] * 3
    assert values("in_square_brackets", "a[Exit]b") == [0, 1, 1, 1, 1, 1, 0, 0]


def test_if_condition_and_body():
    text = "if (a) { b(); } c; if (d) e; f"
    cond, body = values("if_condition", text), values("if_body", text)
    assert "".join(c for c, v in zip(text, cond) if v) == "if (a)if (d)"
    assert "".join(c for c, v in zip(text, body) if v) == "{ b(); }e;"


def test_register_feature_and_errors():
    @register_feature("test_is_x")
    def is_x(text):
        return np.array([c == "x" for c in text], float)

    try:
        assert values("test_is_x", "axb") == [0, 1, 0]
        with pytest.raises(ValueError, match="already registered"):
            register_feature("test_is_x")(is_x)
    finally:
        FEATURES.pop("test_is_x")
    with pytest.raises(ValueError, match="Unknown feature.*'nope'.*valid features"):
        feature_signals("abc", ["nope"])
