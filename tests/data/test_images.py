import itertools
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from seqkit.data import images
from seqkit.data.corpora import data_dir
from seqkit.data.images import (
    CAPTION_DATASETS,
    CAPTION_ITEM_WORDS,
    CAPTION_VOCABULARY,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    FASHION_MNIST_SYSTEM_DIR,
    GRID_POSITIONS,
    GRID_SHAPE,
    CaptionConfig,
    build_fashion_captions,
    caption_for,
    fashion_mnist_dir,
    fetch_debian_package,
    load_captions,
    load_fashion_mnist,
    make_grid,
    parse_caption,
    read_idx,
    sample_grids,
)

SMALL = {"num_train": 48, "num_validation": 12, "num_test": 12, "seed": 5}


@pytest.fixture(scope="module")
def fashion():
    return load_fashion_mnist()


@pytest.fixture(scope="module")
def small_captions():
    return build_fashion_captions(**SMALL)


# --------------------------------------------------------------------------- files


def test_files_are_found_or_fetched_and_checksummed():
    folder = fashion_mnist_dir()
    cached = data_dir() / "downloads" / "dataset-fashion-mnist" / "usr/share/datasets/fashion-mnist"
    assert folder in (FASHION_MNIST_SYSTEM_DIR, cached)
    assert sorted(p.name for p in folder.glob("*.gz")) == sorted(FASHION_MNIST_FILES)
    assert not list((data_dir() / "downloads").glob("*.deb"))  # the .deb is removed
    assert fashion_mnist_dir(fetch=False) == folder


def test_checksum_mismatch_is_reported(tmp_path):
    folder = fashion_mnist_dir()
    for name in FASHION_MNIST_FILES:
        shutil.copy(folder / name, tmp_path / name)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(RuntimeError, match="checksum mismatch for .*t10k-labels"):
        images._check_files(tmp_path)


@pytest.mark.slow
def test_unknown_debian_package_error(tmp_path):
    # Exercises the fallback: apt-get download fails, a private apt-get update (about
    # 7 s, 10 MB from the Debian mirror) runs, the download fails again.
    with pytest.raises(RuntimeError, match="(?s)seqkit-no-such-package.*apt-get install"):
        fetch_debian_package("seqkit-no-such-package", tmp_path)
    assert not list(tmp_path.glob("*.deb"))
    assert not (tmp_path / "seqkit-no-such-package").exists()


def test_no_apt_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="apt-get and dpkg-deb not found"):
        fetch_debian_package("dataset-fashion-mnist", tmp_path)


def test_read_idx(tmp_path):
    folder = fashion_mnist_dir()
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:5].tolist() == [9, 2, 1, 1, 6]
    not_idx = tmp_path / "x.bin"
    not_idx.write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        read_idx(not_idx)
    truncated = tmp_path / "y.bin"
    truncated.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02")
    with pytest.raises(ValueError, match=r"header shape \(5,\) does not match 2 bytes"):
        read_idx(truncated)


# --------------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_splits(fashion):
    assert fashion.class_names == FASHION_MNIST_CLASSES and fashion.num_classes == 10
    assert fashion.sizes() == {"train": 55000, "validation": 5000, "test": 10000}
    for split in ("train", "validation", "test"):
        x, y = fashion.split(split)
        assert x.dtype == np.uint8 and x.shape[1:] == (28, 28)
        assert y.dtype == np.int32 and y.shape == (len(x),)
        assert 0 < x.mean() < 255 and set(np.unique(y)) == set(range(10))
    counts = np.bincount(np.concatenate([fashion.train[1], fashion.validation[1]]))
    assert counts.tolist() == [6000] * 10
    assert np.bincount(fashion.test[1]).tolist() == [1000] * 10
    assert fashion.class_names[fashion.test[1][0]] == "Ankle boot"


def test_fashion_mnist_validation_is_seeded_and_disjoint(fashion):
    full = load_fashion_mnist(validation_size=0)
    assert full.sizes() == {"train": 60000, "validation": 0, "test": 10000}
    assert full.validation[0].shape == (0, 28, 28)
    # The held-out images are exactly the training images missing from train.
    held_out = images.validation_indices(60000, 5000, seed=0)
    np.testing.assert_array_equal(fashion.validation[0], full.train[0][held_out])
    keep = np.setdiff1d(np.arange(60000), held_out)
    np.testing.assert_array_equal(fashion.train[1], full.train[1][keep])
    other = load_fashion_mnist(validation_size=100, seed=1)
    assert other.sizes()["validation"] == 100
    assert not np.array_equal(other.validation[1], fashion.validation[1][:100])
    again = load_fashion_mnist()
    np.testing.assert_array_equal(again.validation[0], fashion.validation[0])


@pytest.mark.parametrize("bad", [-1, 60000, 2.5, True])
def test_bad_validation_size(bad):
    with pytest.raises(
        ValueError,
        match=rf"validation_size must be an int in \[0, 60000\), "
        rf"received {bad!r}",
    ):
        load_fashion_mnist(validation_size=bad)


# --------------------------------------------------------------------------- captions


def test_caption_grammar_round_trips():
    assert caption_for([7, -1, -1, 8]) == "top left sneaker , bottom right bag"
    assert caption_for([0, 1, 2, 9]) == (
        "top left tshirt , top right trouser , bottom left pullover , bottom right boot"
    )
    for cells in itertools.chain.from_iterable(
        itertools.combinations(range(4), k) for k in (1, 2, 3, 4)
    ):
        for label in range(10):
            labels = [-1] * 4
            for i, cell in enumerate(cells):
                labels[cell] = (label + i) % 10
            caption = caption_for(labels)
            assert parse_caption(caption) == labels
            assert set(caption.split()) <= set(CAPTION_VOCABULARY)
    assert parse_caption(b"  top  right coat ") == [-1, 4, -1, -1]


@pytest.mark.parametrize(
    "caption",
    [
        "top middle bag",
        "top left hat",
        "top right bag , top left coat",
        "top left bag , top left coat",
        "top left bag top right coat",
        "",
    ],
)
def test_parse_caption_rejects_bad_grammar(caption):
    with pytest.raises(ValueError, match="caption"):
        parse_caption(caption)


def test_caption_for_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"received \[10, -1, -1, -1\]"):
        caption_for([10, -1, -1, -1])
    with pytest.raises(ValueError, match="4 class ids"):
        caption_for([1, 2])


def test_make_grid_places_items_in_reading_order():
    items = np.stack([np.full((28, 28), v, dtype=np.uint8) for v in (10, 20)])
    grid = make_grid(items, [1, 2])
    assert grid.shape == GRID_SHAPE and grid.dtype == np.uint8
    assert grid[:28, :28].max() == 0 and grid[28:, 28:].max() == 0
    assert (grid[:28, 28:] == 10).all() and (grid[28:, :28] == 20).all()


def test_sample_grids_are_real_items_and_deterministic(fashion):
    x, y = fashion.validation
    grids = list(sample_grids(x, y, 200, seed=9))
    again = list(sample_grids(x, y, 200, seed=9))
    assert all(a["caption"] == b["caption"] for a, b in zip(grids, again))
    assert all(np.array_equal(a["image"], b["image"]) for a, b in zip(grids, again))
    counts = np.bincount([int((g["labels"] >= 0).sum()) for g in grids], minlength=5)
    assert counts[:2].tolist() == [0, 0] and min(counts[2:]) > 40
    for g in grids[:50]:
        assert parse_caption(g["caption"]) == g["labels"].tolist()
        for cell in range(4):
            row, col = divmod(cell, 2)
            patch = g["image"][row * 28 : (row + 1) * 28, col * 28 : (col + 1) * 28, 0]
            source = g["source_index"][cell]
            if source < 0:
                assert patch.max() == 0
            else:
                np.testing.assert_array_equal(patch, x[source])
                assert y[source] == g["labels"][cell]


def test_fashion_captions_builder(small_captions, fashion):
    info = small_captions.info
    assert info.full_name == "seqkit_fashion_captions/train48_val12_test12_seed5/1.0.0"
    assert {s: info.splits[s].num_examples for s in ("train", "validation", "test")} == {
        "train": 48,
        "validation": 12,
        "test": 12,
    }
    assert info.supervised_keys == ("image", "caption")
    sources = {"train": fashion.train, "validation": fashion.validation, "test": fashion.test}
    for split, (x, y) in sources.items():
        examples = list(tfds.as_numpy(small_captions.as_dataset(split=split)))
        expected = list(
            sample_grids(
                x,
                y,
                len(examples),
                seed=SMALL["seed"] * 3 + ("train", "validation", "test").index(split),
            )
        )
        for ex, want in zip(examples, expected):
            assert ex["image"].shape == GRID_SHAPE and ex["image"].dtype == np.uint8
            np.testing.assert_array_equal(ex["image"], want["image"])  # PNG is lossless
            assert ex["caption"].decode() == want["caption"]
            np.testing.assert_array_equal(ex["labels"], want["labels"])
            assert parse_caption(ex["caption"]) == ex["labels"].tolist()


def test_load_captions_dataset_and_vocabulary(small_captions):
    ds = load_captions("fashion_captions", "train", **SMALL)
    spec = ds.element_spec
    assert spec["image"].shape == GRID_SHAPE and spec["image"].dtype == tf.uint8
    assert spec["caption"].dtype == tf.string
    captions = [c.decode() for c in tfds.as_numpy(ds.map(lambda ex: ex["caption"]))]
    assert len(captions) == 48
    first = [c.decode() for c in tfds.as_numpy(ds.map(lambda ex: ex["caption"]))]
    assert captions == first  # fixed order
    # Keras' default standardisation keeps every word distinct (it drops the commas).
    vectorize = keras.layers.TextVectorization()
    vectorize.adapt(captions)
    vocabulary = set(vectorize.get_vocabulary()[2:])
    assert vocabulary <= set(CAPTION_VOCABULARY) - {","}
    assert {"top", "bottom", "left", "right"} <= vocabulary
    assert len(CAPTION_VOCABULARY) == 15 and len(set(CAPTION_ITEM_WORDS)) == 10
    assert [p.split() for p in GRID_POSITIONS] == [
        ["top", "left"],
        ["top", "right"],
        ["bottom", "left"],
        ["bottom", "right"],
    ]


def test_caption_config_names_and_errors():
    assert CaptionConfig.for_sizes().name == "train20000_val2000_test2000_seed0"
    assert CaptionConfig.for_sizes() is CaptionConfig.for_sizes()  # the registered default
    with pytest.raises(ValueError, match="num_validation must be an int >= 1, received 0"):
        CaptionConfig.for_sizes(num_validation=0)
    with pytest.raises(ValueError, match="seed must be an int >= 0, received -2"):
        CaptionConfig.for_sizes(seed=-2)


# --------------------------------------------------------------------------- coco_captions (mocked)


def test_coco_captions_through_mock_data():
    def as_dataset(self, split, **kwargs):
        assert self.name == "coco_captions"
        assert str(split) == "val"  # "validation" is COCO's "val"
        image = np.zeros((2, 3, 3), dtype=np.uint8) + np.arange(2, dtype=np.uint8)[:, None, None]
        examples = {
            "image": np.stack([image, image + 10]),
            "captions": {"text": tf.ragged.constant([["a cat", "a dog", "two pets"], ["a car"]])},
        }
        return tf.data.Dataset.from_tensor_slices(examples).map(
            lambda ex: {"image": ex["image"], "captions": {"text": ex["captions"]["text"]}}
        )

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        pairs = list(tfds.as_numpy(load_captions("coco_captions", "validation")))
    assert [p["caption"].decode() for p in pairs] == ["a cat", "a dog", "two pets", "a car"]
    assert all(p["image"].shape == (2, 3, 3) for p in pairs)
    assert [int(p["image"].max()) for p in pairs] == [1, 1, 1, 11]


def test_coco_captions_random_mock_data():
    with tfds.testing.mock_data(num_examples=2):
        ds = load_captions("coco_captions", "test")
        pairs = list(tfds.as_numpy(ds))
    assert pairs and all(p["image"].ndim == 3 and p["image"].shape[-1] == 3 for p in pairs)
    assert all(isinstance(p["caption"], bytes) for p in pairs)


# --------------------------------------------------------------------------- bad input


def test_unknown_caption_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="'coco'") as info:
        load_captions("coco")
    for name in CAPTION_DATASETS:
        assert name in str(info.value)


def test_bad_split(fashion):
    with pytest.raises(ValueError, match="split must be one of .*'val'"):
        load_captions("fashion_captions", "val")
    with pytest.raises(ValueError, match="'dev'"):
        fashion.split("dev")
