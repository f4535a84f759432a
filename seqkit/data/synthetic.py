"""Synthetic tasks of Jozefowicz, Zaremba & Sutskever (2015), generated from a seed.

* :func:`load_arithmetic` (tfds builder ``seqkit_arithmetic``): two numbers
  and ``+`` or ``-``, with distractor letters ``a``-``j`` mixed in after any
  character, then ``=``, the answer and ``.``; e.g. ``"5b600+34i2hh=5942."`` is
  ``5600 + 342`` with the letters ``b``, ``i``, ``h``, ``h`` mixed in. A model
  reads the string left to right and must predict the answer character by
  character (only the characters after ``=`` are scored). Each number has 1 to
  ``max_digits`` digits (uniformly many); after each character of the question
  a geometric number of distractors follows (each with probability
  ``distractor_prob``).
* :func:`load_xml` (tfds builder ``seqkit_xml``): synthetic nested XML,
  e.g. ``"<ab><q></q><fkd><e></e></fkd></ab>"``. Opening tags are random (names of
  1 to ``max_name_length`` letters, up to ``max_children`` children, depth up to
  ``max_depth``); closing tags are fully determined by the open ones, so a
  model that tracks the nesting predicts them exactly. :func:`closing_mask`
  marks those predictable characters (the name and ``>`` after ``</``).

Both builders write ``train``/``validation``/``test`` splits of the requested
sizes, each from its own seed (``3 · seed + split index``), into
``<data dir>/tfds``; the same arguments give the same strings on every machine.

Example:
    >>> from seqkit.data.synthetic import load_arithmetic, load_xml, closing_mask
    >>> load_arithmetic("train")[0]
    '5b600+34i2hh=5942.'
    >>> closing_mask("<a></a>")
    [0, 0, 0, 0, 0, 1, 1]
"""

from __future__ import annotations

import string
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds

from seqkit.data.corpora import data_dir

SPLITS = ("train", "validation", "test")
DISTRACTORS = "abcdefghij"
ARITHMETIC_ALPHABET = "0123456789+-=." + DISTRACTORS
XML_ALPHABET = "<>/" + string.ascii_lowercase


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid splits: {list(SPLITS)}.")


def _check_positive(**values):
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, received {value!r}.")


# --------------------------------------------------------------------------- generators


def arithmetic_problem(rng, max_digits=4, distractor_prob=0.3):
    """One problem as ``(text, answer_start)``: ``text[answer_start:]`` is the answer and ``.``.

    Args:
        rng: A ``numpy.random.Generator``.
        max_digits: Most digits of either number.
        distractor_prob: Probability of each further distractor after a character.
    """
    numbers = [int(rng.integers(10 ** (d - 1) if d > 1 else 0, 10 ** d))
               for d in rng.integers(1, max_digits + 1, size=2)]
    op = "+" if rng.random() < 0.5 else "-"
    result = numbers[0] + numbers[1] if op == "+" else numbers[0] - numbers[1]
    chars = []
    for char in f"{numbers[0]}{op}{numbers[1]}":
        chars.append(char)
        while rng.random() < distractor_prob:
            chars.append(DISTRACTORS[int(rng.integers(len(DISTRACTORS)))])
    question = "".join(chars) + "="
    return question + f"{result}.", len(question)


def xml_document(rng, max_depth=3, max_children=3, max_name_length=3, max_length=64):
    """One nested XML string of at most ``max_length`` characters (retries until it fits)."""

    def element(depth):
        size = int(rng.integers(1, max_name_length + 1))
        name = "".join(rng.choice(list(string.ascii_lowercase), size))
        children = int(rng.integers(0, max_children + 1)) if depth < max_depth else 0
        inner = "".join(element(depth + 1) for _ in range(children))
        return f"<{name}>{inner}</{name}>"

    while True:
        text = element(1)
        if len(text) <= max_length:
            return text


def closing_mask(text):
    """1 for each character of ``text`` inside a closing tag after ``</`` (name and ``>``).

    Those characters are determined by the tags still open, so a model that
    tracks the nesting predicts them with certainty.
    """
    mask, inside = [], False
    for i, char in enumerate(text):
        if char == "<":
            inside = False
        mask.append(1 if inside else 0)
        if char == "/" and i > 0 and text[i - 1] == "<":
            inside = True
        elif char == ">":
            inside = False
    return mask


# --------------------------------------------------------------------------- tfds builders


class SyntheticConfig(tfds.core.BuilderConfig):
    """Sizes, seed and generator arguments of a synthetic build (the name encodes them).

    Example:
        >>> SyntheticConfig.make(dict(num_train=10, num_validation=2, num_test=2, seed=0))
    """

    def __init__(self, *, params, **kwargs):
        super().__init__(**kwargs)
        self.params = dict(params)

    @classmethod
    def make(cls, params):
        name = "_".join(f"{k}{v}" for k, v in sorted(params.items())).replace(".", "p")
        return cls(name=name, params=params)


class _SyntheticBuilder(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    DESCRIPTION = ""

    def _info(self):
        return self.dataset_info_from_configs(
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({"text": tfds.features.Text()}),
            disable_shuffling=True)

    def _split_generators(self, dl_manager):
        del dl_manager  # generated, nothing to download
        params = self.builder_config.params
        sizes = {"train": params["num_train"], "validation": params["num_validation"],
                 "test": params["num_test"]}
        return {split: self._generate_examples(sizes[split], params["seed"] * 3 + i)
                for i, split in enumerate(SPLITS)}

    def _generate_examples(self, count, seed) -> Iterator:
        rng = np.random.default_rng(seed)
        for i in range(count):
            yield i, {"text": self.make_text(rng)}

    def make_text(self, rng):
        raise NotImplementedError


class ArithmeticDataset(_SyntheticBuilder):
    """Arithmetic with distractors (Jozefowicz et al. 2015): ``text`` per example."""

    name = "seqkit_arithmetic"
    DESCRIPTION = "Two numbers with distractor letters, '=', then the answer."

    def make_text(self, rng):
        p = self.builder_config.params
        return arithmetic_problem(rng, p["max_digits"], p["distractor_prob"])[0]


class XmlDataset(_SyntheticBuilder):
    """Synthetic nested XML (Jozefowicz et al. 2015): ``text`` per example."""

    name = "seqkit_xml"
    DESCRIPTION = "Random nested tags; closing tags are determined by the open ones."

    def make_text(self, rng):
        p = self.builder_config.params
        return xml_document(rng, p["max_depth"], p["max_children"], p["max_name_length"],
                            p["max_length"])


def _load(builder_cls, split, params):
    _check_split(split)
    root = data_dir()
    builder = builder_cls(config=SyntheticConfig.make(params), data_dir=str(root / "tfds"))
    builder.download_and_prepare(download_dir=str(root / "downloads"))
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    return [example["text"].decode("utf-8") for example in tfds.as_numpy(dataset)]


def load_arithmetic(split="train", *, num_train=20000, num_validation=1000, num_test=1000,
                    seed=0, max_digits=4, distractor_prob=0.3):
    """One split of the arithmetic task as a list of strings (built once, then cached).

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        num_train, num_validation, num_test: Split sizes.
        seed: Generator seed.
        max_digits: Most digits of either number.
        distractor_prob: Probability of each further distractor after a character.

    Example:
        >>> load_arithmetic("validation", num_validation=3)[:1]
    """
    _check_positive(num_train=num_train, num_validation=num_validation, num_test=num_test,
                    max_digits=max_digits)
    if not 0 <= distractor_prob < 1:
        raise ValueError(f"distractor_prob must be in [0, 1), received {distractor_prob!r}.")
    return _load(ArithmeticDataset, split, dict(
        num_train=num_train, num_validation=num_validation, num_test=num_test, seed=int(seed),
        max_digits=max_digits, distractor_prob=float(distractor_prob)))


def load_xml(split="train", *, num_train=20000, num_validation=1000, num_test=1000, seed=0,
             max_depth=3, max_children=3, max_name_length=3, max_length=64):
    """One split of the XML task as a list of strings (built once, then cached).

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        num_train, num_validation, num_test: Split sizes.
        seed: Generator seed.
        max_depth, max_children, max_name_length, max_length: Shape of the documents.

    Example:
        >>> load_xml("test", num_test=2)
    """
    _check_positive(num_train=num_train, num_validation=num_validation, num_test=num_test,
                    max_depth=max_depth, max_children=max_children,
                    max_name_length=max_name_length, max_length=max_length)
    if max_length < 7:
        raise ValueError(f"max_length must fit one element like '<a></a>' (>= 7), received "
                         f"{max_length!r}.")
    return _load(XmlDataset, split, dict(
        num_train=num_train, num_validation=num_validation, num_test=num_test, seed=int(seed),
        max_depth=max_depth, max_children=max_children, max_name_length=max_name_length,
        max_length=max_length))
