import struct

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from seqkit.data import translation
from seqkit.data.translation import (
    LOCALE_DIR,
    SPLITS,
    TED_CONFIGS,
    TranslationConfig,
    available_languages,
    build_gettext_translations,
    catalog_files,
    catalog_pairs,
    has_placeholder,
    load_translation_pairs,
    normalize_message,
    num_tokens,
    read_catalog,
    split_of,
)

HAVE_FRENCH = (LOCALE_DIR / "fr" / "LC_MESSAGES" / "coreutils.mo").is_file()
needs_french = pytest.mark.skipif(not HAVE_FRENCH, reason="no French gettext catalogs")

HEADER = "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n > 1);\n"


def write_mo(path, messages):
    """Write a GNU .mo catalog: {msgid: msgstr}; plural keys are 'one\\0many'."""
    entries = sorted(
        ((k.encode(), v.encode()) for k, v in {"": HEADER, **messages}.items()),
        key=lambda kv: kv[0],
    )
    n = len(entries)
    originals_at, translations_at = 28, 28 + 8 * n
    data_at = 28 + 16 * n
    blob, originals, translations = b"", [], []
    for table, index in ((originals, 0), (translations, 1)):
        for entry in entries:
            table.append((len(entry[index]), data_at + len(blob)))
            blob += entry[index] + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, n, originals_at, translations_at, 0, 0)
    tables = b"".join(struct.pack("<2I", *e) for e in originals + translations)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + tables + blob)


@pytest.fixture()
def locale_dir(tmp_path):
    root = tmp_path / "locale"
    write_mo(
        root / "xx" / "LC_MESSAGES" / "alpha.mo",
        {
            "Open file": "Ouvrir le fichier",
            "menu\x04Quit": "Quitter",  # message context is dropped
            "%d file\x00%d files": "%d fichier\x00%d fichiers",  # plural: skipped
            "cannot open %s": "impossible d'ouvrir\u00a0«\u00a0%s\u00a0»",
            "%s: %s": "%s\u00a0: %s",  # format-only: dropped
            "Uganda": "Ouganda",
            "Tsotso": "tsotso",  # untranslated up to case: dropped
            "Help\n  with\tspaces ": "Aide  avec\nespaces",
            "one two three four five six": "un deux trois quatre cinq six",
        },
    )
    write_mo(
        root / "xx" / "LC_MESSAGES" / "beta.mo",
        {"Open file": "Ouvre le fichier", "Uganda": "Ouganda", "Hello {name}": "Bonjour {name}"},
    )
    write_mo(root / "yy" / "LC_MESSAGES" / "alpha.mo", {"Yes": "Ja"})
    (root / "zz" / "LC_MESSAGES").mkdir(parents=True)  # no catalog: not available
    return root


@pytest.fixture(scope="module")
def french():
    return load_translation_pairs("fr")


# --------------------------------------------------------------------------- text helpers


def test_normalize_message():
    assert normalize_message("  a\u00a0«\u202fb\u00a0»\n\tc  ") == "a « b » c"
    assert normalize_message("e\u0301t\u00e9") == "\u00e9t\u00e9"  # NFC
    assert normalize_message(" \n ") == ""


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cannot open %s", True),
        ("%-10.3lf", True),
        ("%2$s and %1$s", True),
        ("%%", True),
        ("%(count)d files", True),
        ("%P: error", True),
        ("line %lu", True),
        ("{0}", True),
        ("Hello {name}", True),
        ("{name!r:>10}", True),
        ("100% sure", False),
        ("% of total", False),
        ("Unmatched \\{", False),
        ("--x={a,b}", False),
        ("$HOME not set", False),
        ("plain text", False),
    ],
)
def test_has_placeholder(text, expected):
    assert has_placeholder(text) is expected


def test_num_tokens():
    assert num_tokens(["a b  c", "", " x "]).tolist() == [3, 0, 1]


def test_split_of_is_seeded_stable_and_proportional():
    sources = [f"message number {i}" for i in range(20000)]
    splits = [split_of(s, 0, 0.05, 0.05) for s in sources]
    assert splits == [split_of(s, 0, 0.05, 0.05) for s in sources]
    shares = {name: splits.count(name) / len(splits) for name in SPLITS}
    assert shares["train"] == pytest.approx(0.9, abs=0.01)
    assert shares["validation"] == pytest.approx(0.05, abs=0.005)
    assert shares["test"] == pytest.approx(0.05, abs=0.005)
    reseeded = [split_of(s, 1, 0.05, 0.05) for s in sources]
    assert reseeded != splits
    # More test data only moves pairs out of train, never between test and validation.
    wider = [split_of(s, 0, 0.05, 0.10) for s in sources]
    assert all(w == "test" for s, w in zip(splits, wider) if s == "test")


# --------------------------------------------------------------------------- catalogs


def test_read_catalog_and_clean_pairs(locale_dir):
    raw = dict(read_catalog(locale_dir / "xx" / "LC_MESSAGES" / "alpha.mo"))
    assert raw["Quit"] == "Quitter" and "" not in raw
    assert not any("\x00" in k or "file" in k and "%d" in k for k in raw)  # plural skipped
    pairs = catalog_pairs("xx", locale_dir)
    assert pairs == sorted(pairs, key=lambda p: (p["source"], p["target"]))
    got = {(p["source"], p["target"]): p["domain"] for p in pairs}
    assert got == {
        ("Help with spaces", "Aide avec espaces"): "alpha",
        ("Hello {name}", "Bonjour {name}"): "beta",
        ("Open file", "Ouvre le fichier"): "beta",
        ("Open file", "Ouvrir le fichier"): "alpha",
        ("Quit", "Quitter"): "alpha",
        ("Uganda", "Ouganda"): "alpha",  # the same pair in two catalogs is kept once
        ("cannot open %s", "impossible d'ouvrir « %s »"): "alpha",
        ("one two three four five six", "un deux trois quatre cinq six"): "alpha",
    }


def test_unreadable_catalog_is_skipped(tmp_path):
    bad = tmp_path / "bad.mo"
    bad.write_bytes(b"not a catalog")
    assert read_catalog(bad) == []


def test_available_languages(locale_dir):
    assert available_languages(locale_dir) == ["xx", "yy"]
    assert available_languages(locale_dir / "missing") == []


def test_missing_language_lists_the_available_ones(locale_dir):
    with pytest.raises(ValueError, match=r"'fr' in .*available languages \(2\): xx, yy"):
        catalog_files("fr", locale_dir)
    with pytest.raises(ValueError, match="holds no .*LC_MESSAGES.*slim Docker images"):
        catalog_files("fr", locale_dir / "missing")
    with pytest.raises(ValueError, match="available languages"):
        load_translation_pairs("zz", locale_dir=locale_dir)


def test_load_from_a_locale_dir(locale_dir):
    everything = load_translation_pairs(
        "xx",
        locale_dir=locale_dir,
        max_tokens=None,
        drop_placeholders=False,
        validation_fraction=0.0,
        test_fraction=0.0,
    )
    assert everything.sizes() == {"train": 8, "validation": 0, "test": 0}
    assert (everything.source_lang, everything.target_lang) == ("en", "xx")
    sources, targets = everything.train
    assert sources.dtype == object and targets.dtype == object
    filtered = load_translation_pairs(
        "xx", locale_dir=locale_dir, max_tokens=5, validation_fraction=0.0, test_fraction=0.0
    )
    assert sorted(filtered.train[0]) == [
        "Help with spaces",
        "Open file",
        "Open file",
        "Quit",
        "Uganda",
    ]


# --------------------------------------------------------------------------- the real catalogs


@needs_french
def test_french_catalogs_exist():
    assert "fr" in available_languages() and "de" in available_languages()
    assert len(catalog_files("fr")) >= 20
    assert ("missing operand", "opérande manquant") in read_catalog(
        LOCALE_DIR / "fr" / "LC_MESSAGES" / "coreutils.mo"
    )


@needs_french
def test_french_builder():
    builder = build_gettext_translations("fr")
    info = builder.info
    assert info.full_name == "seqkit_gettext_translations/fr/1.0.0"
    assert info.supervised_keys == ("source", "target")
    sizes = {split: info.splits[split].num_examples for split in SPLITS}
    total = sum(sizes.values())
    assert 40_000 < total < 70_000  # 50,930 on the project image
    assert sizes["validation"] / total == pytest.approx(0.05, abs=0.005)
    assert sizes["test"] / total == pytest.approx(0.05, abs=0.005)
    ex = next(iter(tfds.as_numpy(builder.as_dataset(split="test"))))
    assert set(ex) == {"source", "target", "domain", "has_placeholder"}


@needs_french
def test_french_pairs_are_filtered_disjoint_and_deterministic(french):
    assert (french.source_lang, french.target_lang) == ("en", "fr")
    sizes = french.sizes()
    assert 25_000 < sum(sizes.values()) < 45_000  # 32,624 on the project image
    seen = set()
    for split in SPLITS:
        sources, targets = french.split(split)
        assert len(sources) == len(targets) == sizes[split] > 1000
        assert num_tokens(sources).max() <= 20 and num_tokens(targets).max() <= 20
        assert not any(has_placeholder(s) or has_placeholder(t) for s, t in zip(sources, targets))
        assert all(
            s == normalize_message(s) and s.casefold() != t.casefold()
            for s, t in zip(sources, targets)
        )
        assert seen.isdisjoint(sources)  # an English message never crosses splits
        seen.update(sources)
    assert "opérande manquant" in french.train[1] or "opérande manquant" in np.concatenate(
        [french.validation[1], french.test[1]]
    )
    again = load_translation_pairs("fr")
    for split in SPLITS:
        np.testing.assert_array_equal(french.split(split)[0], again.split(split)[0])
        np.testing.assert_array_equal(french.split(split)[1], again.split(split)[1])


@needs_french
def test_french_filters(french):
    short = load_translation_pairs("fr", max_tokens=4)
    assert 0 < sum(short.sizes().values()) < sum(french.sizes().values())
    assert num_tokens(short.train[0]).max() <= 4
    assert set(short.test[0]) <= set(french.test[0])
    everything = load_translation_pairs("fr", max_tokens=None, drop_placeholders=False)
    assert sum(everything.sizes().values()) > sum(french.sizes().values()) + 10_000
    assert any(has_placeholder(s) for s in everything.train[0])
    # The split is by message, so filtering never moves a pair to another split.
    assert set(french.validation[0]) <= set(everything.validation[0])


def test_config_names():
    assert TranslationConfig.for_language("fr") is TranslationConfig.for_language("fr")
    assert TranslationConfig.for_language("pt_BR").name == "pt_BR"
    assert TranslationConfig.for_language("sr@latin").name == "sr_at_latin"
    assert TranslationConfig.for_language("de", 0.1, 0.05, 3).name == "de_val0p1_test0p05_seed3"


# --------------------------------------------------------------------------- ted_hrlr_translate


def test_ted_through_mock_data():
    data = {
        "train": (
            ["olá mundo", "um dois três quatro", "obrigado"],
            ["hello world", "one two three four", "thanks"],
        ),
        "validation": (["bom dia"], ["good morning"]),
        "test": (["até logo"], ["see you"]),
    }

    def as_dataset(self, split, **kwargs):
        assert self.name == "ted_hrlr_translate"
        pt, en = data[str(split)]
        return tf.data.Dataset.from_tensor_slices({"pt": pt, "en": en})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        pairs = load_translation_pairs("ted_hrlr_translate/pt_to_en", max_tokens=3)
    assert (pairs.source_lang, pairs.target_lang) == ("pt", "en")
    assert pairs.train[0].tolist() == ["olá mundo", "obrigado"]  # 4 tokens filtered out
    assert pairs.train[1].tolist() == ["hello world", "thanks"]
    assert pairs.validation[1].tolist() == ["good morning"]
    assert pairs.test[0].tolist() == ["até logo"]


def test_ted_random_mock_data():
    with tfds.testing.mock_data(num_examples=4):
        pairs = load_translation_pairs("ted_hrlr_translate/ru_to_en", max_tokens=None)
    assert (pairs.source_lang, pairs.target_lang) == ("ru", "en")
    assert pairs.sizes() == {"train": 4, "validation": 4, "test": 4}


# --------------------------------------------------------------------------- bad input


def test_unknown_ted_config_lists_valid_ones():
    with pytest.raises(ValueError, match="'pt_to_fr'") as info:
        load_translation_pairs("ted_hrlr_translate/pt_to_fr")
    for config in TED_CONFIGS:
        assert config in str(info.value)


@needs_french
def test_unknown_language_lists_available_ones():
    with pytest.raises(ValueError, match=r"'xx' in /usr/share/locale; available .*\bfr\b"):
        load_translation_pairs("xx")
    with pytest.raises(ValueError, match="available languages"):
        load_translation_pairs("../../etc")


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"max_tokens": 0}, "max_tokens must be None or an int >= 1, received 0"),
        ({"max_tokens": 2.5}, "received 2.5"),
        ({"validation_fraction": 1.5}, "validation_fraction .* received 1.5"),
        ({"validation_fraction": 0.5, "test_fraction": 0.5}, "must be < 1"),
        ({"seed": -3}, "seed must be an int >= 0, received -3"),
        ({"lang": 3}, "lang must be a language code .* received 3"),
    ],
)
def test_bad_arguments_name_the_received_value(kwargs, pattern):
    kwargs = {"lang": "fr", **kwargs}
    with pytest.raises(ValueError, match=pattern):
        load_translation_pairs(kwargs.pop("lang"), **kwargs)


def test_bad_split_name(locale_dir):
    pairs = load_translation_pairs("yy", locale_dir=locale_dir)
    with pytest.raises(ValueError, match="split must be one of .*'dev'"):
        pairs.split("dev")


def test_public_module_names():
    for name in ("load_translation_pairs", "available_languages", "GettextTranslations"):
        assert hasattr(translation, name)
