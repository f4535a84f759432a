"""Word-level vocabularies for classifiers, captioners and translators.

Tokens are words and single punctuation marks, lower-cased one code point at a
time (``re.findall(r"\\w+|[^\\w\\s]", text.lower())``, except that a capital
sigma always becomes "σ"). Ids: 0 padding, 1 unknown,
2 ``<start>``, 3 ``<end>``, then the training words by frequency.

Example:
    >>> vocab = WordVocab.from_texts(["the cat sat", "the dog"])
    >>> vocab.encode("the bird", start_end=True)
    [2, 4, 1, 3]
"""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import numpy as np

TOKEN = re.compile(r"\w+|[^\w\s]")
PAD, UNK, START, END = "", "<unk>", "<start>", "<end>"
SPECIALS = (PAD, UNK, START, END)


def tokenize(text):
    """Lower-cased words and punctuation marks of ``text``.

    Each code point is lower-cased on its own (``chr(c).lower()``): a capital
    sigma always becomes "σ", never the final "ς" that ``str.lower`` picks from
    the neighbouring letters, so that the exported in-graph tokenizer
    (``seqkit.export_tasks``) can reproduce it exactly. No other character
    depends on its context.
    """
    return TOKEN.findall(str(text).replace("\u03a3", "\u03c3").lower())


class WordVocab:
    """A frequency-ordered word vocabulary with padding, unknown, start and end ids.

    Args:
        words: The vocabulary after the four special tokens.
    """

    def __init__(self, words):
        self.words = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.index = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def from_texts(cls, texts, max_size=None, min_count=1):
        """The ``max_size`` most frequent tokens (seen at least ``min_count`` times)."""
        counts = collections.Counter(token for text in texts for token in tokenize(text))
        ranked = sorted((w for w, c in counts.items() if c >= min_count),
                        key=lambda w: (-counts[w], w))
        if max_size is not None:
            ranked = ranked[:max(0, max_size - len(SPECIALS))]
        return cls(ranked)

    @property
    def size(self):
        return len(self.words)

    @property
    def start_id(self):
        return self.index[START]

    @property
    def end_id(self):
        return self.index[END]

    def encode(self, text, start_end=False):
        ids = [self.index.get(token, 1) for token in tokenize(text)]
        return [self.start_id, *ids, self.end_id] if start_end else ids

    def encode_batch(self, texts, start_end=False, max_length=None):
        """Right-padded int32 array ``(len(texts), longest)``; ``max_length`` truncates."""
        rows = [self.encode(t, start_end)[:max_length] for t in texts]
        out = np.zeros((len(rows), max(1, max((len(r) for r in rows), default=1))), np.int32)
        for i, row in enumerate(rows):
            out[i, :len(row)] = row
        return out

    def decode(self, ids):
        """Space-joined tokens, stopping at ``<end>``, skipping padding and ``<start>``."""
        words = []
        for i in ids:
            i = int(i)
            if i == self.end_id:
                break
            if i not in (0, self.start_id):
                words.append(self.words[i] if 0 <= i < self.size else UNK)
        return " ".join(words)

    def save(self, path):
        Path(path).write_text(json.dumps(self.words[len(SPECIALS):], ensure_ascii=False))

    @classmethod
    def load(cls, path):
        return cls(json.loads(Path(path).read_text()))
