"""Images for many-to-one (rows as a sequence) and one-to-many (captioning) recipes.

* :func:`load_fashion_mnist`: Fashion-MNIST (Zalando, Expat licence), 60,000
  training and 10,000 test 28x28 grey-scale images of 10 clothing classes,
  read from the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist/*-idx*-ubyte.gz``). When the package
  is not installed, :func:`fashion_mnist_dir` fetches it without root:
  ``apt-get download dataset-fashion-mnist`` into ``<data dir>/downloads``
  and ``dpkg-deb -x`` there (when apt's package lists are missing or stale,
  a private ``apt-get update`` into ``<data dir>/downloads/apt`` first).
  The four files are checked against pinned SHA-256 sums. A seeded
  ``validation_size`` images of ``train`` (5,000 by default) form
  ``validation``.
* :func:`load_captions` with ``"fashion_captions"``: the local tfds builder
  :class:`FashionCaptions` (``seqkit_fashion_captions``). Each image is a
  2x2 grid (56x56 pixels, one channel) of 28x28 cells; 2 to 4 of the cells
  hold a real Fashion-MNIST item, the rest stay black. The caption names
  every item with its cell, in reading order (top left, top right, bottom
  left, bottom right), e.g. ``"top left sneaker , bottom right bag"``. The
  grammar is fixed (``<row> <column> <item>`` joined by ``" , "``) and the
  vocabulary (:data:`CAPTION_VOCABULARY`) has 15 words, all lower-case
  letters except the comma. ``train`` and ``validation`` grids use the
  ``train`` and ``validation`` images of :func:`load_fashion_mnist`
  (disjoint), ``test`` grids the Fashion-MNIST test images. Deterministic for
  a given config (sizes and seed).
* :func:`load_captions` with ``"coco_captions"``: the online tfds dataset
  (needs internet and a download of many GB on first use), one
  element per (image, caption) pair.

Example:
    >>> from seqkit.data.images import load_fashion_mnist, load_captions
    >>> data = load_fashion_mnist()
    >>> x, y = data.train                      # uint8 (55000, 28, 28), int32 (55000,)
    >>> data.class_names[y[0]]
    'Ankle boot'
    >>> ds = load_captions("fashion_captions", "validation")
    >>> ex = next(iter(ds))                    # {"image": uint8 (56, 56, 1), "caption": ...}
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from seqkit.data.corpora import data_dir
from seqkit.data.sentiment import check_seed, check_split

SPLITS = ("train", "validation", "test")

FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
"""The package's files and their SHA-256 sums."""

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
"""Fashion-MNIST's class names, in label order."""

FASHION_MNIST_TRAIN_SIZE = 60000
DEFAULT_VALIDATION_SIZE = 5000
DEFAULT_SEED = 0

CAPTION_DATASETS = ("fashion_captions", "coco_captions")
"""Names accepted by :func:`load_captions`."""

CAPTION_ITEM_WORDS = (
    "tshirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "boot",
)  # fmt: skip
"""The one caption word per Fashion-MNIST class, in label order."""

GRID_POSITIONS = ("top left", "top right", "bottom left", "bottom right")
"""Caption words of the 2x2 cells, in reading order (cell ``i`` is row ``i // 2``,
column ``i % 2``)."""

CAPTION_SEPARATOR = " , "
CAPTION_VOCABULARY = (",", "top", "bottom", "left", "right", *CAPTION_ITEM_WORDS)
"""Every word a fashion caption uses (whitespace tokens)."""

CELL = 28
GRID_SHAPE = (2 * CELL, 2 * CELL, 1)
"""Shape of a ``fashion_captions`` image: height, width, channels."""

EMPTY_CELL = -1


# --------------------------------------------------------------------------- Fashion-MNIST files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _has_files(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FASHION_MNIST_FILES)


def _check_files(folder: Path) -> Path:
    for name, expected in FASHION_MNIST_FILES.items():
        digest = _sha256(folder / name)
        if digest != expected:
            raise RuntimeError(
                f"checksum mismatch for {folder / name}: expected sha256 {expected}, got {digest}"
            )
    return folder


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)


def fetch_debian_package(package: str, folder: str | os.PathLike) -> Path:
    """Download a Debian package without root and unpack it into ``folder/<package>``.

    Runs ``apt-get download <package>`` (any user may) in ``folder``. When
    that fails, typically because the machine has no package lists (Docker
    images often delete them) or stale ones, it runs ``apt-get update`` with
    private lists under ``folder/apt`` and tries again with those lists. The
    ``.deb`` is then unpacked with ``dpkg-deb -x`` and deleted. Nothing is
    installed and nothing outside ``folder`` is written.

    Args:
        package: the Debian package name.
        folder: where to work; created if missing.

    Returns:
        The unpacked root, ``folder/<package>`` (it mirrors ``/``: files of
        ``/usr/share/x`` are under ``folder/<package>/usr/share/x``).

    Raises:
        RuntimeError: not a Debian-like system (no ``apt-get`` /
            ``dpkg-deb``), or apt failed (no network, unknown package); the
            message holds apt's output and what to do instead.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / package
    missing = [tool for tool in ("apt-get", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"cannot fetch the Debian package {package!r}: {' and '.join(missing)} not found "
            "(not a Debian/Ubuntu system); install the package's files by other means"
        )
    for old in folder.glob(f"{package}_*.deb"):
        old.unlink()
    result = _run(["apt-get", "download", package], folder)
    if result.returncode != 0:
        apt = folder / "apt"
        for sub in ("lists/partial", "cache/archives/partial"):
            (apt / sub).mkdir(parents=True, exist_ok=True)
        options = [
            "-o", f"Dir::State::Lists={apt / 'lists'}",
            "-o", f"Dir::Cache={apt / 'cache'}",
            "-o", "Debug::NoLocking=1",
        ]  # fmt: skip
        update = _run(["apt-get", *options, "update"], folder)
        result = _run(["apt-get", *options, "download", package], folder)
        if result.returncode != 0:
            raise RuntimeError(
                f"`apt-get download {package}` failed, also after a private `apt-get update` "
                f"into {apt}:\n{update.stderr[-1000:]}\n{result.stderr[-1000:]}\n"
                f"Install it instead with `apt-get install {package}` (as root)."
            )
    debs = sorted(folder.glob(f"{package}_*.deb"))
    if not debs:
        raise RuntimeError(f"`apt-get download {package}` wrote no .deb into {folder}")
    staging = Path(tempfile.mkdtemp(prefix=f".{package}-", dir=folder))
    try:
        unpack = _run(["dpkg-deb", "-x", str(debs[-1]), str(staging)], folder)
        if unpack.returncode != 0:
            raise RuntimeError(f"`dpkg-deb -x {debs[-1]}` failed:\n{unpack.stderr[-2000:]}")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for deb in debs:
            deb.unlink(missing_ok=True)
    return target


def fashion_mnist_dir(fetch: bool = True) -> Path:
    """The folder holding the four Fashion-MNIST ``*-idx*-ubyte.gz`` files.

    Looks in :data:`FASHION_MNIST_SYSTEM_DIR` (the installed Debian
    package), then in ``<data dir>/downloads/dataset-fashion-mnist/...``;
    when neither has the files and ``fetch`` is true, fetches the package
    there with :func:`fetch_debian_package`. The files are checked against
    :data:`FASHION_MNIST_FILES`.

    Raises:
        FileNotFoundError: the files are absent and ``fetch`` is false.
        RuntimeError: fetching failed, or a checksum does not match.
    """
    downloads = data_dir() / "downloads"
    cached = downloads / FASHION_MNIST_PACKAGE / FASHION_MNIST_SYSTEM_DIR.relative_to("/")
    for folder in (FASHION_MNIST_SYSTEM_DIR, cached):
        if _has_files(folder):
            return _check_files(folder)
    if not fetch:
        raise FileNotFoundError(
            f"Fashion-MNIST files not found in {FASHION_MNIST_SYSTEM_DIR} or {cached}; "
            f"`apt-get install {FASHION_MNIST_PACKAGE}`, or call with fetch=True"
        )
    fetch_debian_package(FASHION_MNIST_PACKAGE, downloads)
    if not _has_files(cached):
        raise RuntimeError(f"the package {FASHION_MNIST_PACKAGE} did not hold the files {cached}")
    return _check_files(cached)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a (gzipped) IDX file of unsigned bytes, as used by (Fashion-)MNIST.

    Returns:
        ``uint8`` array of the shape in the header, e.g. ``(60000, 28, 28)``
        for images and ``(60000,)`` for labels.

    Raises:
        ValueError: not an unsigned-byte IDX file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{str(path)!r} is not an unsigned-byte IDX file (magic {raw[:4]!r})")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{str(path)!r}: header shape {shape} does not match {data.size} bytes")
    return data.reshape(shape)


# --------------------------------------------------------------------------- Fashion-MNIST


@dataclasses.dataclass(frozen=True)
class ImageClassificationData:
    """Three splits of labelled images and the class names.

    Each split is ``(x, y)``: ``x`` ``uint8`` of shape ``(n, 28, 28)`` (pixel
    0 is black background, 255 white; divide by 255 for a model), ``y``
    ``int32`` of shape ``(n,)`` indexing :attr:`class_names`.
    """

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` of ``"train"``, ``"validation"`` or ``"test"``."""
        check_split(name, SPLITS)
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        """Number of examples per split."""
        return {name: len(self.split(name)[1]) for name in SPLITS}


def validation_indices(num_train: int, validation_size: int, seed: int) -> np.ndarray:
    """Indices of the ``validation_size`` training images held out for validation.

    A seeded permutation (``np.random.default_rng(seed)``) of
    ``range(num_train)``, its first ``validation_size`` entries, sorted.
    """
    order = np.random.default_rng(seed).permutation(num_train)
    return np.sort(order[:validation_size])


@functools.lru_cache(maxsize=1)
def _read_fashion_mnist(folder: str) -> tuple[np.ndarray, ...]:
    """The four arrays, decompressed once per process (callers get copies)."""
    folder = Path(folder)
    return (
        read_idx(folder / "train-images-idx3-ubyte.gz"),
        read_idx(folder / "train-labels-idx1-ubyte.gz").astype(np.int32),
        read_idx(folder / "t10k-images-idx3-ubyte.gz"),
        read_idx(folder / "t10k-labels-idx1-ubyte.gz").astype(np.int32),
    )


def load_fashion_mnist(
    validation_size: int = DEFAULT_VALIDATION_SIZE, seed: int = DEFAULT_SEED, fetch: bool = True
) -> ImageClassificationData:
    """Load Fashion-MNIST as ``uint8`` images and ``int32`` labels.

    Args:
        validation_size: number of training images moved, at random
            (seeded), into ``validation``; 0 gives an empty validation split
            and the full 60,000 in ``train``.
        seed: seed of that choice.
        fetch: download the Debian package into the cache when it is not
            installed (see :func:`fashion_mnist_dir`).

    Returns:
        An :class:`ImageClassificationData`: by default 55,000 train, 5,000
        validation and 10,000 test images (the original test set), in the
        files' order; class names :data:`FASHION_MNIST_CLASSES`.

    Raises:
        ValueError: ``validation_size`` not an int in [0, 60000) or a bad seed.

    Example:
        >>> x, y = load_fashion_mnist().test
        >>> x.shape, x.dtype, y.shape
        ((10000, 28, 28), dtype('uint8'), (10000,))
    """
    seed = check_seed(seed)
    if (
        isinstance(validation_size, bool)
        or not isinstance(validation_size, (int, np.integer))
        or not 0 <= validation_size < FASHION_MNIST_TRAIN_SIZE
    ):
        raise ValueError(
            f"validation_size must be an int in [0, {FASHION_MNIST_TRAIN_SIZE}), "
            f"received {validation_size!r}"
        )
    x_train, y_train, x_test, y_test = _read_fashion_mnist(str(fashion_mnist_dir(fetch=fetch)))
    held_out = validation_indices(len(y_train), int(validation_size), seed)
    keep = np.ones(len(y_train), dtype=bool)
    keep[held_out] = False
    return ImageClassificationData(
        train=(x_train[keep], y_train[keep]),
        validation=(x_train[held_out], y_train[held_out]),
        test=(x_test.copy(), y_test.copy()),
        class_names=FASHION_MNIST_CLASSES,
    )


# --------------------------------------------------------------------------- captions


def caption_for(cell_labels: Sequence[int]) -> str:
    """The caption of a grid from its four cell labels (:data:`EMPTY_CELL` = -1 for empty).

    Example:
        >>> caption_for([7, -1, -1, 8])
        'top left sneaker , bottom right bag'
    """
    labels = [int(label) for label in cell_labels]
    if len(labels) != len(GRID_POSITIONS) or not all(
        label == EMPTY_CELL or 0 <= label < len(CAPTION_ITEM_WORDS) for label in labels
    ):
        raise ValueError(
            f"cell_labels must be {len(GRID_POSITIONS)} class ids in [0, "
            f"{len(CAPTION_ITEM_WORDS)}) or {EMPTY_CELL} for an empty cell, received {labels!r}"
        )
    parts = [
        f"{GRID_POSITIONS[cell]} {CAPTION_ITEM_WORDS[label]}"
        for cell, label in enumerate(labels)
        if label != EMPTY_CELL
    ]
    return CAPTION_SEPARATOR.join(parts)


def parse_caption(caption: str | bytes) -> list[int]:
    """Inverse of :func:`caption_for`: the four cell labels a caption describes.

    Useful to score generated captions item by item. Extra spaces are
    ignored.

    Raises:
        ValueError: the caption does not follow the grammar (a bad position
            or item word, a cell named twice, cells out of reading order).

    Example:
        >>> parse_caption("top left sneaker , bottom right bag")
        [7, -1, -1, 8]
    """
    if isinstance(caption, bytes):
        caption = caption.decode("utf-8")
    labels = [EMPTY_CELL] * len(GRID_POSITIONS)
    last = -1
    for part in " ".join(caption.split()).split(CAPTION_SEPARATOR.strip()):
        words = part.split()
        position, item = " ".join(words[:2]), " ".join(words[2:])
        if position not in GRID_POSITIONS or item not in CAPTION_ITEM_WORDS:
            raise ValueError(
                f"caption part {part.strip()!r} of {caption!r} is not '<position> <item>' with "
                f"position in {list(GRID_POSITIONS)} and item in {list(CAPTION_ITEM_WORDS)}"
            )
        cell = GRID_POSITIONS.index(position)
        if cell <= last:
            raise ValueError(f"caption {caption!r} names cells out of reading order or twice")
        labels[cell], last = CAPTION_ITEM_WORDS.index(item), cell
    return labels


def make_grid(items: np.ndarray, cells: Sequence[int]) -> np.ndarray:
    """Place 28x28 items into the given cells of a black 56x56x1 grid.

    Args:
        items: ``uint8`` ``(k, 28, 28)``.
        cells: ``k`` distinct cell ids in ``[0, 4)`` (reading order).

    Returns:
        ``uint8`` array of shape :data:`GRID_SHAPE`.
    """
    grid = np.zeros(GRID_SHAPE, dtype=np.uint8)
    for item, cell in zip(items, cells):
        row, col = divmod(int(cell), 2)
        grid[row * CELL : (row + 1) * CELL, col * CELL : (col + 1) * CELL, 0] = item
    return grid


def sample_grids(
    images: np.ndarray,
    labels: np.ndarray,
    num_examples: int,
    seed: int,
    min_items: int = 2,
    max_items: int = 4,
) -> Iterator[dict]:
    """Yield captioned grids of random items, deterministically for a seed.

    For each grid: the number of items ``k`` is uniform in ``[min_items,
    max_items]``, the ``k`` occupied cells a uniform random subset of the
    four, and the items ``k`` distinct images drawn uniformly from ``images``.

    Yields:
        ``{"image": uint8 (56, 56, 1), "caption": str, "labels": int32 (4,),
        "source_index": int32 (4,)}``; ``labels`` and ``source_index`` (the
        index into ``images``) are -1 for empty cells.
    """
    rng = np.random.default_rng(seed)
    for _ in range(num_examples):
        k = int(rng.integers(min_items, max_items + 1))
        cells = np.sort(rng.choice(len(GRID_POSITIONS), size=k, replace=False))
        picks = rng.choice(len(images), size=k, replace=False)
        cell_labels = np.full(len(GRID_POSITIONS), EMPTY_CELL, dtype=np.int32)
        source = np.full(len(GRID_POSITIONS), EMPTY_CELL, dtype=np.int32)
        cell_labels[cells] = labels[picks]
        source[cells] = picks
        yield {
            "image": make_grid(images[picks], cells),
            "caption": caption_for(cell_labels),
            "labels": cell_labels,
            "source_index": source,
        }


class CaptionConfig(tfds.core.BuilderConfig):
    """Sizes and seed of a ``seqkit_fashion_captions`` build.

    Example:
        >>> CaptionConfig.for_sizes(100, 10, 10, seed=3).name
        'train100_val10_test10_seed3'
    """

    def __init__(
        self,
        *,
        num_train: int = 20000,
        num_validation: int = 2000,
        num_test: int = 2000,
        seed: int = DEFAULT_SEED,
        **kwargs,
    ):
        super().__init__(**kwargs)
        sizes = {"num_train": num_train, "num_validation": num_validation, "num_test": num_test}
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, received {value!r}")
        self.num_train, self.num_validation, self.num_test = num_train, num_validation, num_test
        self.seed = check_seed(seed)

    @staticmethod
    def make_name(num_train: int, num_validation: int, num_test: int, seed: int) -> str:
        return f"train{num_train}_val{num_validation}_test{num_test}_seed{seed}"

    @classmethod
    def for_sizes(
        cls, num_train: int = 20000, num_validation: int = 2000, num_test: int = 2000,
        seed: int = DEFAULT_SEED,
    ) -> CaptionConfig:  # fmt: skip
        """The config for these sizes (the registered default one when they match)."""
        config = cls(
            name=cls.make_name(num_train, num_validation, num_test, seed),
            num_train=num_train,
            num_validation=num_validation,
            num_test=num_test,
            seed=seed,
            description=(
                f"{num_train} train, {num_validation} validation, {num_test} test grids, "
                f"seed {seed}"
            ),
        )
        return _DEFAULT_CAPTION_CONFIG if config.name == _DEFAULT_CAPTION_CONFIG.name else config


_DEFAULT_CAPTION_CONFIG = CaptionConfig(
    name=CaptionConfig.make_name(20000, 2000, 2000, DEFAULT_SEED),
    description="20000 train, 2000 validation, 2000 test grids, seed 0",
)


class FashionCaptions(tfds.core.GeneratorBasedBuilder):
    """2x2 grids of 2-4 Fashion-MNIST items with a caption naming each item and its cell.

    Features: ``image`` (``uint8`` :data:`GRID_SHAPE`, PNG-encoded),
    ``caption`` (string, see :func:`caption_for`), ``labels`` (``int32``
    ``(4,)``, class id per cell, -1 empty), ``source_index`` (``int32``
    ``(4,)``, index of each item in the Fashion-MNIST split it comes from:
    ``train`` / ``validation`` of :func:`load_fashion_mnist` for the
    ``train`` / ``validation`` grids, the test set for ``test``; -1 empty).
    """

    name = "seqkit_fashion_captions"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [_DEFAULT_CAPTION_CONFIG]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=(
                "Captioning on real pixels: 56x56 grids of 2 to 4 Fashion-MNIST items with a "
                "caption naming every item and its cell in reading order."
            ),
            homepage="https://github.com/zalandoresearch/fashion-mnist",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=GRID_SHAPE, dtype=np.uint8),
                    "caption": tfds.features.Text(),
                    "labels": tfds.features.Tensor(shape=(4,), dtype=np.int32),
                    "source_index": tfds.features.Tensor(shape=(4,), dtype=np.int32),
                }
            ),
            supervised_keys=("image", "caption"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Fashion-MNIST comes from the Debian package
        config = self.builder_config
        data = load_fashion_mnist(DEFAULT_VALIDATION_SIZE, DEFAULT_SEED)
        sizes = {"train": config.num_train, "validation": config.num_validation,
                 "test": config.num_test}  # fmt: skip
        return {
            split: self._generate_examples(*data.split(split), sizes[split], config.seed * 3 + i)
            for i, split in enumerate(SPLITS)
        }

    def _generate_examples(self, images, labels, num_examples, seed) -> Iterator:
        yield from enumerate(sample_grids(images, labels, num_examples, seed))


def build_fashion_captions(
    num_train: int = 20000, num_validation: int = 2000, num_test: int = 2000,
    seed: int = DEFAULT_SEED,
) -> FashionCaptions:  # fmt: skip
    """Prepare the ``seqkit_fashion_captions`` builder for these sizes (once) and return it."""
    root = data_dir()
    builder = FashionCaptions(
        config=CaptionConfig.for_sizes(num_train, num_validation, num_test, seed),
        data_dir=str(root / "tfds"),
    )
    builder.download_and_prepare(download_dir=str(root / "downloads"))
    return builder


def _coco_pairs(example: dict) -> tf.data.Dataset:
    texts = example["captions"]["text"]
    images = tf.repeat(example["image"][tf.newaxis], tf.shape(texts)[0], axis=0)
    return tf.data.Dataset.from_tensor_slices({"image": images, "caption": texts})


def load_captions(
    name: str = "fashion_captions",
    split: str = "train",
    *,
    num_train: int = 20000,
    num_validation: int = 2000,
    num_test: int = 2000,
    seed: int = DEFAULT_SEED,
) -> tf.data.Dataset:
    """One split of a captioning dataset as a ``tf.data.Dataset`` of dicts.

    Args:
        name: one of :data:`CAPTION_DATASETS`.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        num_train, num_validation, num_test, seed: size and seed of the
            ``fashion_captions`` build (each combination is built once and
            cached); ignored for ``coco_captions``.

    Returns:
        Elements ``{"image": uint8 (H, W, C), "caption": tf.string}``, in a
        fixed order (shuffle for training). ``fashion_captions`` elements
        also hold ``labels`` and ``source_index`` (``int32`` ``(4,)``) and
        have ``image`` shape ``(56, 56, 1)``. ``coco_captions`` (RGB images
        of varying size; its ``val`` split is ``"validation"``) gives one
        element per caption, about five per image.

    Raises:
        ValueError: unknown ``name`` or ``split`` (the message lists the
            valid ones), or bad sizes.

    Example:
        >>> ds = load_captions("fashion_captions", "test", num_train=10, num_validation=10,
        ...                    num_test=10)
        >>> ex = next(iter(ds))
        >>> ex["image"].shape, ex["caption"].dtype
        (TensorShape([56, 56, 1]), tf.string)
    """
    check_split(split, SPLITS)
    if name == "fashion_captions":
        builder = build_fashion_captions(num_train, num_validation, num_test, seed)
        return builder.as_dataset(split=split, shuffle_files=False)
    if name == "coco_captions" or name.startswith("coco_captions/"):
        root = data_dir()
        dataset = tfds.load(
            name,
            split={"validation": "val"}.get(split, split),
            data_dir=str(root / "tfds"),
            shuffle_files=False,
            download_and_prepare_kwargs={"download_dir": str(root / "downloads")},
        )
        return dataset.flat_map(_coco_pairs)
    raise ValueError(
        f"unknown captioning dataset {name!r}: expected one of {list(CAPTION_DATASETS)}"
    )
