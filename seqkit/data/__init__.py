"""Data pipelines for seqkit: text corpora (local tfds builders) and char-LM streams.

Example:
    >>> from seqkit.data import CharVocab, load_text, stream_batches
    >>> text = load_text("linux", max_chars=200_000)
    >>> vocab = CharVocab.from_text(text)
    >>> ds = stream_batches(vocab.encode(text), batch_size=16, seq_length=64)
"""

from seqkit.data.charlm import (
    OOV_ID,
    CharVocab,
    skip_batches,
    steps_per_epoch,
    stream_batches,
)
from seqkit.data.corpora import (
    CORPORA,
    LinuxCorpus,
    PythonStdlibCorpus,
    ShakespeareCorpus,
    build_corpus,
    data_dir,
    load_text,
    split_text,
    strip_gutenberg,
)

__all__ = [
    "CORPORA",
    "OOV_ID",
    "CharVocab",
    "LinuxCorpus",
    "PythonStdlibCorpus",
    "ShakespeareCorpus",
    "build_corpus",
    "data_dir",
    "load_text",
    "skip_batches",
    "split_text",
    "steps_per_epoch",
    "stream_batches",
    "strip_gutenberg",
]

from seqkit.data.words import WordVocab, tokenize  # noqa: E402

__all__ += ["WordVocab", "tokenize"]
