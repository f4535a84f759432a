"""Sentence pairs for seq2seq translation recipes.

* Any language from the GNU gettext message catalogs installed with the
  system's programs, ``/usr/share/locale/<lang>/LC_MESSAGES/*.mo``: every
  English message (``msgid``) with its human translation (``msgstr``), read
  with Python's :class:`gettext.GNUTranslations`. This is the local tfds
  builder :class:`GettextTranslations` (``seqkit_gettext_translations``, one
  config per language). Cleaning (:func:`catalog_pairs`): the catalog header
  and plural entries are skipped, message contexts removed, both sides
  Unicode-NFC normalised with every run of whitespace (newlines, no-break
  spaces) collapsed to one space; pairs with an empty side, with no letter in
  the English (format-only strings such as ``"%s: %s"``) or left untranslated
  (target equal to source up to case, as in language names ``"Tsotso"`` ->
  ``"tsotso"``) are dropped, and duplicate pairs merged. An
  English message with several translations (from different programs) keeps
  them all, always in the same split. Splits are by a seeded hash of the
  English text: about 90% ``train``, 5% ``validation``, 5% ``test``, stable
  when catalogs are added or removed. On the project's machine image
  (Debian 12 with coreutils, git, PostgreSQL 15, GTK 2, binutils,
  iso-codes, ... : 87 French catalogs), French gives 50,930 unique pairs
  of 50,269 distinct English messages (45,944 / 2,516 / 2,470 in the
  default split); 33,850 of them have no placeholder, and 32,624 of those
  have at most 20 tokens a side (the defaults of
  :func:`load_translation_pairs`).

  At load time (:func:`load_translation_pairs`) pairs are filtered by length
  (``max_tokens`` whitespace-separated tokens on each side) and, by default,
  pairs whose text holds printf-style (``%s``, ``%-10.3lf``, ``%1$s``) or
  brace (``{name}``) placeholders are dropped (:func:`has_placeholder`).
* The online tfds ``ted_hrlr_translate/<src>_to_<tgt>`` datasets (TED talk
  transcripts, e.g. ``ted_hrlr_translate/pt_to_en``; need internet on first
  use), with their own ``train`` / ``validation`` / ``test`` splits and the
  same length filter.

Data is cached under ``<data dir>/tfds`` (``$SEQKIT_DATA_DIR`` or
``~/.cache/seqkit``). The gettext dataset is not rebuilt when packages are
installed or removed: delete ``<data dir>/tfds/seqkit_gettext_translations``
to rebuild it.

Example:
    >>> from seqkit.data.translation import load_translation_pairs
    >>> pairs = load_translation_pairs("fr", max_tokens=12)
    >>> sources, targets = pairs.train     # object arrays of str, aligned
    >>> pairs.source_lang, pairs.target_lang
    ('en', 'fr')
"""

from __future__ import annotations

import dataclasses
import gettext
import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from seqkit.data.corpora import data_dir
from seqkit.data.sentiment import check_fractions, check_seed, check_split, read_split_arrays

SPLITS = ("train", "validation", "test")
LOCALE_DIR = Path("/usr/share/locale")
"""Where Debian installs the compiled gettext catalogs."""

SOURCE_LANG = "en"
DEFAULT_VALIDATION_FRACTION = 0.05
DEFAULT_TEST_FRACTION = 0.05
DEFAULT_SEED = 0
DEFAULT_MAX_TOKENS = 20

TED_PREFIX = "ted_hrlr_translate/"
TED_CONFIGS = ("az_to_en", "aztr_to_en", "be_to_en", "beru_to_en", "es_to_pt", "fr_to_pt",
               "gl_to_en", "glpt_to_en", "he_to_pt", "it_to_pt", "pt_to_en", "ru_to_en",
               "ru_to_pt", "tr_to_en")  # fmt: skip
"""Configs of the online ``ted_hrlr_translate`` dataset (``ted_hrlr_translate/<config>``)."""

PLACEHOLDER = re.compile(
    r"%(?:\d+\$|\(\w+\))?[-#0+']*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|L|q|j|z|t|I64|I32)?"
    r"[diouxXeEfFgGaAcspnmCS%]"
    r"|%[A-Z](?![a-z])"  # binutils' own conversions: %P, %H, %B, %X, ...
    r"|\{[A-Za-z_0-9.\[\]]*(?:![rsa])?(?::[^{}]*)?\}"
)
"""printf conversions (``%s``, ``%-5d``, ``%2$s``, ``%(name)s``, ``%%``, binutils' ``%P``) and brace
fields (``{0}``, ``{name}``)."""

_LETTER = re.compile(r"[^\W\d_]")
_WHITESPACE = re.compile(r"\s+")
_LANG_NAME = re.compile(r"^[A-Za-z]{2,3}(?:_[A-Za-z0-9]{2,4})?(?:@[A-Za-z]+)?$")


# --------------------------------------------------------------------------- catalogs


def available_languages(locale_dir: str | os.PathLike = LOCALE_DIR) -> list[str]:
    """Languages with at least one ``.mo`` catalog under ``locale_dir``, sorted.

    Example:
        >>> "fr" in available_languages()  # on a Debian machine with packages installed
        True
    """
    root = Path(locale_dir)
    if not root.is_dir():
        return []
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and any((entry / "LC_MESSAGES").glob("*.mo"))
    )


def catalog_files(lang: str, locale_dir: str | os.PathLike = LOCALE_DIR) -> list[Path]:
    """The ``.mo`` files of ``lang``, sorted by name.

    Raises:
        ValueError: no catalog for ``lang``; the message lists the available
            languages (or explains that there are none).
    """
    if not isinstance(lang, str) or not lang:
        raise ValueError(f"lang must be a language code such as 'fr', received {lang!r}")
    files = sorted((Path(locale_dir) / lang / "LC_MESSAGES").glob("*.mo"))
    if files:
        return files
    available = available_languages(locale_dir)
    if not available:
        raise ValueError(
            f"no gettext catalogs for {lang!r}: {os.fspath(locale_dir)} holds no "
            "*/LC_MESSAGES/*.mo files at all (slim Docker images exclude them; install "
            "translated packages such as coreutils, git, iso-codes without the "
            "path-exclude of /usr/share/locale in /etc/dpkg/dpkg.cfg.d/)"
        )
    raise ValueError(
        f"no gettext catalogs for language {lang!r} in {os.fspath(locale_dir)}; available "
        f"languages ({len(available)}): {', '.join(available)}"
    )


def read_catalog(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(msgid, msgstr)`` pairs of one ``.mo`` file, as ``GNUTranslations`` parses them.

    The header (empty ``msgid``) and plural entries are skipped and a
    message context (``msgctxt``) is removed from the ``msgid``. Order is the
    catalog's (sorted by ``msgid``). A catalog that cannot be parsed gives an
    empty list.
    """
    try:
        with open(path, "rb") as handle:
            translations = gettext.GNUTranslations(handle)
    except (OSError, UnicodeDecodeError, LookupError, ValueError):
        return []
    pairs = []
    # GNUTranslations keeps every message in its _catalog dict; there is no public iterator.
    for msgid, msgstr in translations._catalog.items():
        if not isinstance(msgid, str) or not msgid:
            continue  # (msgid, n) keys are plural forms; "" is the header
        pairs.append((msgid.rsplit("\x04", 1)[-1], msgstr))
    return pairs


def normalize_message(text: str) -> str:
    """NFC-normalise and collapse every run of whitespace into one space, stripped.

    Example:
        >>> normalize_message("  impossible d'ouvrir\\u00a0«\\u00a0%s\\u00a0»\\n")
        "impossible d'ouvrir « %s »"
    """
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def has_placeholder(text: str) -> bool:
    """Whether ``text`` holds a printf conversion or a ``{field}`` (see :data:`PLACEHOLDER`).

    Example:
        >>> has_placeholder("cannot open %s"), has_placeholder("100% sure")
        (True, False)
    """
    return PLACEHOLDER.search(text) is not None


def catalog_pairs(lang: str, locale_dir: str | os.PathLike = LOCALE_DIR) -> list[dict]:
    """The cleaned, de-duplicated English -> ``lang`` pairs of every catalog of a language.

    Returns:
        Dicts ``{"source", "target", "domain"}`` sorted by ``(source,
        target)``; ``domain`` is the catalog (``"coreutils"``) the pair was
        first found in, catalogs taken in name order.

    Raises:
        ValueError: no catalog for ``lang`` (see :func:`catalog_files`).
    """
    seen: dict[tuple[str, str], str] = {}
    for path in catalog_files(lang, locale_dir):
        domain = path.stem
        for msgid, msgstr in read_catalog(path):
            source, target = normalize_message(msgid), normalize_message(msgstr)
            if (
                not source
                or not target
                or source.casefold() == target.casefold()  # untranslated, or only recased
                or not _LETTER.search(PLACEHOLDER.sub("", source))  # format-only: "%s: %s"
            ):
                continue
            seen.setdefault((source, target), domain)
    return [
        {"source": source, "target": target, "domain": domain}
        for (source, target), domain in sorted(seen.items())
    ]


def split_of(source: str, seed: int, validation_fraction: float, test_fraction: float) -> str:
    """The split of a pair, from a seeded SHA-256 of its English text.

    The hash maps the text to a number ``u`` in [0, 1): ``test`` when ``u <
    test_fraction``, ``validation`` when below ``test_fraction +
    validation_fraction``, else ``train``. Every translation of one English
    message lands in the same split, and the assignment does not depend on
    which other messages exist.

    Example:
        >>> split_of("Permission denied", 0, 0.05, 0.05) in {"train", "validation", "test"}
        True
    """
    digest = hashlib.sha256(f"{seed}\x00{source}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + validation_fraction:
        return "validation"
    return "train"


# --------------------------------------------------------------------------- tfds builder


def _config_name(lang: str, validation_fraction: float, test_fraction: float, seed: int) -> str:
    def fmt(x: float) -> str:
        return f"{x:.12g}".replace(".", "p")

    base = lang.replace("@", "_at_")
    if (validation_fraction, test_fraction, seed) == (
        DEFAULT_VALIDATION_FRACTION, DEFAULT_TEST_FRACTION, DEFAULT_SEED,
    ):  # fmt: skip
        return base
    return f"{base}_val{fmt(validation_fraction)}_test{fmt(test_fraction)}_seed{seed}"


class TranslationConfig(tfds.core.BuilderConfig):
    """Target language and split of a ``seqkit_gettext_translations`` build.

    Example:
        >>> TranslationConfig.for_language("fr").name
        'fr'
        >>> TranslationConfig.for_language("sr@latin", seed=2).name
        'sr_at_latin_val0p05_test0p05_seed2'
    """

    def __init__(
        self,
        *,
        lang: str = "fr",
        validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
        test_fraction: float = DEFAULT_TEST_FRACTION,
        seed: int = DEFAULT_SEED,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.lang = lang
        self.validation_fraction, self.test_fraction = check_fractions(
            validation_fraction, test_fraction
        )
        self.seed = check_seed(seed)

    @classmethod
    def for_language(
        cls,
        lang: str,
        validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
        test_fraction: float = DEFAULT_TEST_FRACTION,
        seed: int = DEFAULT_SEED,
    ) -> TranslationConfig:
        """The config for ``lang`` and this split."""
        if not isinstance(lang, str) or not _LANG_NAME.match(lang):
            raise ValueError(
                f"lang must be a locale name such as 'fr', 'pt_BR' or 'sr@latin', received {lang!r}"
            )
        validation_fraction, test_fraction = check_fractions(validation_fraction, test_fraction)
        seed = check_seed(seed)
        name = _config_name(lang, validation_fraction, test_fraction, seed)
        if name in _REGISTERED_CONFIGS:  # tfds wants the very object it registered
            return _REGISTERED_CONFIGS[name]
        return cls(
            name=name,
            lang=lang,
            validation_fraction=validation_fraction,
            test_fraction=test_fraction,
            seed=seed,
            description=f"English -> {lang} gettext messages",
        )


_REGISTERED_CONFIGS: dict[str, TranslationConfig] = {}
_REGISTERED_CONFIGS["fr"] = TranslationConfig.for_language("fr")


class GettextTranslations(tfds.core.GeneratorBasedBuilder):
    """English -> one language message pairs from the system's gettext catalogs.

    Features: ``source`` (English), ``target`` (translation), ``domain`` (the
    catalog, e.g. ``"coreutils"``), ``has_placeholder`` (either side holds a
    printf / brace placeholder). Splits ``train`` / ``validation`` /
    ``test`` (:func:`split_of`), each sorted by ``(source, target)``.
    """

    name = "seqkit_gettext_translations"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = list(_REGISTERED_CONFIGS.values())

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=(
                "User-interface messages of free software in English with their human "
                "translations, from the compiled gettext catalogs under /usr/share/locale."
            ),
            homepage="https://www.gnu.org/software/gettext/",
            features=tfds.features.FeaturesDict(
                {
                    "source": tfds.features.Text(),
                    "target": tfds.features.Text(),
                    "domain": tfds.features.Text(),
                    "has_placeholder": tfds.features.Scalar(dtype=np.bool_),
                }
            ),
            supervised_keys=("source", "target"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # local files
        config = self.builder_config
        parts: dict[str, list[dict]] = {split: [] for split in SPLITS}
        for pair in catalog_pairs(config.lang):
            split = split_of(pair["source"], config.seed, config.validation_fraction,
                             config.test_fraction)  # fmt: skip
            parts[split].append(pair)
        return {split: self._generate_examples(pairs) for split, pairs in parts.items() if pairs}

    def _generate_examples(self, pairs: list[dict]) -> Iterator:
        for key, pair in enumerate(pairs):
            placeholder = has_placeholder(pair["source"]) or has_placeholder(pair["target"])
            yield key, {**pair, "has_placeholder": placeholder}


def build_gettext_translations(
    lang: str = "fr",
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
) -> GettextTranslations:
    """Prepare the builder for ``lang`` and this split (once) and return it.

    Raises:
        ValueError: no catalog for ``lang`` (the message lists the available
            languages).
    """
    config = TranslationConfig.for_language(lang, validation_fraction, test_fraction, seed)
    catalog_files(lang)  # a clear error before tfds starts writing
    root = data_dir()
    builder = GettextTranslations(config=config, data_dir=str(root / "tfds"))
    builder.download_and_prepare(download_dir=str(root / "downloads"))
    return builder


# --------------------------------------------------------------------------- loading


@dataclasses.dataclass(frozen=True)
class TranslationPairs:
    """Aligned source/target sentences in three splits.

    Each split is ``(sources, targets)``, two 1-D NumPy arrays of Python
    ``str`` (dtype ``object``) of equal length: ``targets[i]`` translates
    ``sources[i]``.
    """

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    source_lang: str
    target_lang: str

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(sources, targets)`` of ``"train"``, ``"validation"`` or ``"test"``."""
        check_split(name, SPLITS)
        return getattr(self, name)

    def sizes(self) -> dict[str, int]:
        """Number of pairs per split."""
        return {name: len(self.split(name)[0]) for name in SPLITS}


def num_tokens(texts: Iterable[str]) -> np.ndarray:
    """Whitespace-separated token count of each text (``int32``).

    Example:
        >>> num_tokens(["a b  c", ""]).tolist()
        [3, 0]
    """
    return np.array([len(text.split()) for text in texts], dtype=np.int32)


def _check_max_tokens(max_tokens) -> int | None:
    if max_tokens is None:
        return None
    if (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, (int, np.integer))
        or (max_tokens < 1)
    ):
        raise ValueError(f"max_tokens must be None or an int >= 1, received {max_tokens!r}")
    return int(max_tokens)


def _filter(sources, targets, placeholder, max_tokens, drop_placeholders):
    keep = np.ones(len(sources), dtype=bool)
    if max_tokens is not None:
        keep &= (num_tokens(sources) <= max_tokens) & (num_tokens(targets) <= max_tokens)
    if drop_placeholders:
        keep &= ~placeholder
    return sources[keep], targets[keep]


def _placeholders(sources, targets) -> np.ndarray:
    return np.array(
        [has_placeholder(s) or has_placeholder(t) for s, t in zip(sources, targets)], dtype=bool
    )


def _load_gettext(lang, locale_dir, max_tokens, drop_placeholders, fractions, seed):
    splits = {}
    if locale_dir is None:
        builder = build_gettext_translations(lang, *fractions, seed)
        for split in SPLITS:
            arrays = read_split_arrays(builder, split)
            splits[split] = _filter(arrays["source"], arrays["target"],
                                    arrays["has_placeholder"], max_tokens,
                                    drop_placeholders)  # fmt: skip
    else:  # another catalog folder: read directly, no cache
        parts = {split: ([], []) for split in SPLITS}
        for pair in catalog_pairs(lang, locale_dir):
            split = split_of(pair["source"], seed, *fractions)
            parts[split][0].append(pair["source"])
            parts[split][1].append(pair["target"])
        for split, (sources, targets) in parts.items():
            sources = np.array(sources, dtype=object)
            targets = np.array(targets, dtype=object)
            splits[split] = _filter(sources, targets, _placeholders(sources, targets),
                                    max_tokens, drop_placeholders)  # fmt: skip
    return TranslationPairs(**splits, source_lang=SOURCE_LANG, target_lang=lang)


def _load_ted(name, max_tokens, drop_placeholders):
    config = name[len(TED_PREFIX) :]
    if config not in TED_CONFIGS:
        raise ValueError(
            f"unknown ted_hrlr_translate config {config!r} in {name!r}: expected one of "
            f"{[TED_PREFIX + c for c in TED_CONFIGS]}"
        )
    root = data_dir()
    splits, keys = {}, None
    for split in SPLITS:
        dataset, info = tfds.load(
            name,
            split=split,
            data_dir=str(root / "tfds"),
            shuffle_files=False,
            with_info=True,
            download_and_prepare_kwargs={"download_dir": str(root / "downloads")},
        )
        keys = info.supervised_keys  # e.g. ("pt", "en")
        sources, targets = [], []
        for batch in tfds.as_numpy(dataset.batch(4096)):
            sources.extend(s.decode("utf-8") for s in batch[keys[0]])
            targets.extend(t.decode("utf-8") for t in batch[keys[1]])
        sources = np.array(sources, dtype=object)
        targets = np.array(targets, dtype=object)
        splits[split] = _filter(sources, targets, _placeholders(sources, targets),
                                max_tokens, drop_placeholders)  # fmt: skip
    return TranslationPairs(**splits, source_lang=keys[0], target_lang=keys[1])


def load_translation_pairs(
    lang: str = "fr",
    *,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    drop_placeholders: bool = True,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
    locale_dir: str | os.PathLike | None = None,
) -> TranslationPairs:
    """Load English -> ``lang`` sentence pairs in train/validation/test splits.

    Args:
        lang: a gettext language with catalogs under ``/usr/share/locale``
            (``"fr"``, ``"de"``, ``"pt_BR"``, ``"sr@latin"``; see
            :func:`available_languages`), or an online tfds name
            ``"ted_hrlr_translate/<src>_to_<tgt>"`` such as
            ``"ted_hrlr_translate/pt_to_en"`` (:data:`TED_CONFIGS`; the
            source is then ``<src>``, not English).
        max_tokens: keep pairs with at most this many whitespace-separated
            tokens on both sides; ``None`` keeps all lengths.
        drop_placeholders: drop pairs where either side holds a printf or
            brace placeholder (:func:`has_placeholder`).
        validation_fraction: approximate share of English messages in
            ``validation`` (gettext only; the TED datasets keep their splits).
        test_fraction: approximate share in ``test`` (gettext only).
        seed: seed of the gettext split (see :func:`split_of`).
        locale_dir: read catalogs from this folder instead of
            ``/usr/share/locale``, directly and without caching.

    Returns:
        A :class:`TranslationPairs` (``source_lang`` ``"en"`` and
        ``target_lang`` ``lang`` for gettext). For French on the project's
        machine image with the defaults: 29,478 train, 1,599 validation and
        1,547 test pairs (the module docstring has the unfiltered sizes).

    Raises:
        ValueError: ``lang`` has no catalogs (the message lists the available
            languages), an unknown TED config, or bad filter / split arguments.

    Example:
        >>> pairs = load_translation_pairs("de", max_tokens=8)
        >>> sources, targets = pairs.validation
        >>> len(sources) == len(targets)
        True
    """
    max_tokens = _check_max_tokens(max_tokens)
    fractions = check_fractions(validation_fraction, test_fraction)
    seed = check_seed(seed)
    if not isinstance(lang, str):
        raise ValueError(f"lang must be a language code such as 'fr', received {lang!r}")
    if lang.startswith(TED_PREFIX):
        return _load_ted(lang, max_tokens, drop_placeholders)
    if locale_dir is None and not _LANG_NAME.match(lang):
        # Not a locale name: raise the "available languages" error.
        catalog_files(lang)
    return _load_gettext(lang, locale_dir, max_tokens, drop_placeholders, fractions, seed)
