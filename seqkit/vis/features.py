"""Feature signals of a text, one value per character, to compare units against.

Each feature gives the state *after reading* each character (as ``h_t`` is the state
after reading ``x_t``): the opening quote is already inside the quotes, the closing one
is outside. Register more with ``register_feature``.

Example:
    >>> feature_signals("a(b{c})", ["bracket_depth"])["bracket_depth"].tolist()
    [0.0, 1.0, 1.0, 2.0, 2.0, 1.0, 0.0]
"""

from __future__ import annotations

import re

import numpy as np

FEATURES = {}


def register_feature(name, description=""):
    """Decorator: ``fn(text) -> array (len(text),)`` registered under ``name``.

    Example:
        >>> @register_feature("is_vowel", "the character is a vowel")
        ... def is_vowel(text):
        ...     return np.array([c in "aeiou" for c in text], float)
    """

    def decorator(fn):
        if name in FEATURES:
            raise ValueError(f"A feature named {name!r} is already registered.")
        fn.feature_name, fn.description = name, description or (fn.__doc__ or "").strip()
        FEATURES[name] = fn
        return fn

    return decorator


def _c_lexer(text):
    """Per character: (in_string, in_comment) after reading it, for C-like code."""
    n = len(text)
    string, comment = np.zeros(n), np.zeros(n)
    mode, i = None, 0  # None, '"', "'", "/*", "//"
    while i < n:
        c, nxt = text[i], text[i + 1] if i + 1 < n else ""
        if mode is None:
            if c in "\"'":
                mode = c
            elif c == "/" and nxt in "*/" and nxt:
                mode = "/" + nxt
                string[i], comment[i] = 0, 1
                comment[i + 1] = 1
                i += 2
                continue
        elif mode in "\"'":
            if c == "\\":
                string[i] = 1
                if i + 1 < n:
                    string[i + 1] = 1
                i += 2
                continue
            if c == mode or c == "\n":
                mode = None
        elif mode == "/*" and c == "*" and nxt == "/":
            comment[i] = 1
            mode = None
            i += 2
            continue
        elif mode == "//" and c == "\n":
            mode = None
        string[i] = mode == '"'
        comment[i] = mode in ("/*", "//")
        i += 1
    return string, comment


@register_feature("in_quotes", "inside a double-quoted string")
def in_quotes(text):
    """Inside a double-quoted string (C escapes understood; comments ignored)."""
    return _c_lexer(text)[0]


@register_feature("in_comment", "inside a C comment (/* */ or //)")
def in_comment(text):
    """Inside a C comment, ``/* ... */`` or ``// ...`` (strings understood)."""
    return _c_lexer(text)[1]


@register_feature("line_position", "characters since the last newline")
def line_position(text):
    """Column of the next character: characters read since the last newline."""
    out, column = np.zeros(len(text)), 0
    for i, c in enumerate(text):
        column = 0 if c == "\n" else column + 1
        out[i] = column
    return out


@register_feature("word_position", "letters since the start of the current word")
def word_position(text):
    """Letters read since the current word began (0 outside words)."""
    out, run = np.zeros(len(text)), 0
    for i, c in enumerate(text):
        run = run + 1 if c.isalnum() or c in "_'" else 0
        out[i] = run
    return out


def _depth(text, opening, closing):
    out, depth = np.zeros(len(text)), 0
    for i, c in enumerate(text):
        if c in opening:
            depth += 1
        elif c in closing:
            depth = max(0, depth - 1)
        out[i] = depth
    return out


@register_feature("bracket_depth", "nesting depth of (), [] and {}")
def bracket_depth(text):
    """Nesting depth of all brackets ``()[]{}`` (never below 0)."""
    return _depth(text, "([{", ")]}")


@register_feature("brace_depth", "code depth: nesting of {}")
def brace_depth(text):
    """Code depth: nesting of ``{}`` (the paper's "code depth" cell)."""
    return _depth(text, "{", "}")


@register_feature("paren_depth", "nesting depth of ()")
def paren_depth(text):
    """Nesting depth of parentheses."""
    return _depth(text, "(", ")")


@register_feature("in_square_brackets", "inside [...] (stage directions in Shakespeare)")
def in_square_brackets(text):
    """Inside square brackets (Shakespeare's stage directions ``[Exit.]``)."""
    return np.minimum(_depth(text, "[", "]"), 1)


_IF = re.compile(r"\bif\s*\(")


def _matching(text, start, opening, closing):
    """Index of the bracket closing the one at ``start`` (or len(text))."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def _if_regions(text):
    """(condition, body) masks of every C ``if`` statement."""
    condition, body = np.zeros(len(text)), np.zeros(len(text))
    for match in _IF.finditer(text):
        open_paren = match.end() - 1
        close_paren = _matching(text, open_paren, "(", ")")
        condition[match.start():close_paren + 1] = 1
        j = close_paren + 1
        while j < len(text) and text[j] in " \t\r\n":
            j += 1
        if j >= len(text):
            continue
        end = _matching(text, j, "{", "}") if text[j] == "{" else text.find(";", j)
        end = len(text) - 1 if end < 0 else end
        body[j:end + 1] = 1
    return condition, body


@register_feature("if_condition", "inside the condition of an if statement")
def if_condition(text):
    """From ``if`` to the parenthesis closing its condition."""
    return _if_regions(text)[0]


@register_feature("if_body", "inside the body of an if statement")
def if_body(text):
    """The statement or ``{...}`` block an ``if`` condition controls."""
    return _if_regions(text)[1]


def _per_line(text, predicate):
    out = np.zeros(len(text))
    start = 0
    for line in text.split("\n"):
        if predicate(line):
            out[start:start + len(line)] = 1
        start += len(line) + 1
    return out


@register_feature("preprocessor_line", "on a line starting with # (C preprocessor)")
def preprocessor_line(text):
    """On a C preprocessor line (first non-blank character ``#``)."""
    return _per_line(text, lambda line: line.lstrip().startswith("#"))


@register_feature("speaker_line", "on an all-capitals line (a speaker's name in a play)")
def speaker_line(text):
    """On a line of capitals, e.g. ``KING HENRY.`` (who speaks next in a play)."""
    return _per_line(text, lambda line: any(c.isalpha() for c in line)
                     and line.strip() == line.strip().upper())


def feature_signals(text, names=None):
    """``{name: (len(text),) float array}`` for the registered features ``names`` (all).

    Example:
        >>> feature_signals('x = "a";', ["in_quotes"])["in_quotes"].tolist()
        [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    """
    if names is None:
        names = list(FEATURES)
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"Unknown feature(s) {unknown}; valid features: {sorted(FEATURES)}.")
    out = {}
    for name in names:
        values = np.asarray(FEATURES[name](text), float)
        if values.shape != (len(text),):
            raise ValueError(f"Feature {name!r} returned shape {values.shape} for a text of "
                             f"{len(text)} characters; it must return one value per character.")
        out[name] = values
    return out
