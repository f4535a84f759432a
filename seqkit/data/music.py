"""JSB-style polyphonic music: the Bach chorales shipped with ``music21`` as piano rolls.

The 371 four-part chorales of ``music21.corpus.chorales.Iterator()``
(Riemenschneider numbering, the corpus inside the music21 wheel; nothing is
downloaded) become binary piano rolls of 88 keys (MIDI 21-108, A0-C8), one
frame per ``1 / frames_per_quarter`` of a quarter note (default 1: a frame
per quarter note, the resolution of the JSB Chorales set of Boulanger-
Lewandowski et al. 2012 that Jozefowicz et al. and Greff et al. used). A key
is on in frame ``k`` when a note sounds at time ``k / frames_per_quarter``
(sampled at the frame's start, so notes shorter than a frame that do not
cover a frame start are dropped). The chorales keep their written key: no
transposition.

Splits are deterministic: the chorales' file names are sorted, shuffled with
``seed`` and cut 60% / 20% / 20% into ``train`` / ``validation`` / ``test``
(JSB: 229 / 76 / 77). ``limit`` keeps only the first ``limit`` sorted names
(tests use 3 to 6). Parsing all 371 chorales takes about two minutes; the
local tfds builder ``seqkit_bach_chorales`` caches the rolls under
``<data dir>/tfds`` so that happens once.

Example:
    >>> from seqkit.data.music import load_chorales
    >>> rolls = load_chorales("validation")          # list of uint8 (frames, 88)
    >>> rolls[0].shape[1]
    88
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds

from seqkit.data.corpora import data_dir

SPLITS = ("train", "validation", "test")
LOWEST_MIDI, KEYS = 21, 88
FRACTIONS = (0.6, 0.2, 0.2)


def chorale_names(limit=None):
    """The sorted corpus names of the chorales (``"bach/bwv269"``, ...), first ``limit``."""
    from music21 import corpus

    names = sorted(str(n) for n in corpus.chorales.Iterator(returnType="filename"))
    return names[:limit] if limit else names


def score_to_roll(score, frames_per_quarter=1):
    """A music21 score as a binary piano roll ``uint8 (frames, 88)``.

    Args:
        score: A ``music21.stream.Score`` (or any stream with notes and chords).
        frames_per_quarter: Frames per quarter note (1: quarter notes, 2: eighths).

    Example:
        >>> from music21 import corpus
        >>> score_to_roll(corpus.parse("bach/bwv269")).shape
        (63, 88)
    """
    if isinstance(frames_per_quarter, bool) or not isinstance(frames_per_quarter, int) \
            or frames_per_quarter < 1:
        raise ValueError(f"frames_per_quarter must be an int >= 1, received "
                         f"{frames_per_quarter!r}.")
    notes = [(float(n.offset), float(n.duration.quarterLength), [p.midi for p in n.pitches])
             for n in score.flatten().notes if float(n.duration.quarterLength) > 0]
    end = max((start + length for start, length, _ in notes), default=0.0)
    roll = np.zeros((max(1, math.ceil(end * frames_per_quarter)), KEYS), np.uint8)
    for start, length, pitches in notes:
        first = math.ceil(start * frames_per_quarter - 1e-9)
        last = math.ceil((start + length) * frames_per_quarter - 1e-9)  # exclusive
        for midi in pitches:
            if LOWEST_MIDI <= midi < LOWEST_MIDI + KEYS:
                roll[first:last, midi - LOWEST_MIDI] = 1
    return roll


def split_names(names, seed=0):
    """``{"train", "validation", "test"}`` -> names: a seeded 60/20/20 cut of sorted names."""
    names = sorted(names)
    order = np.random.default_rng(seed).permutation(len(names))
    shuffled = [names[i] for i in order]
    n_train = round(FRACTIONS[0] * len(names))
    n_val = round(FRACTIONS[1] * len(names))
    return {"train": shuffled[:n_train], "validation": shuffled[n_train:n_train + n_val],
            "test": shuffled[n_train + n_val:]}


class ChoraleConfig(tfds.core.BuilderConfig):
    """Frame rate, chorale limit and split seed of a ``seqkit_bach_chorales`` build."""

    def __init__(self, *, frames_per_quarter=1, limit=None, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.frames_per_quarter, self.limit, self.seed = frames_per_quarter, limit, seed

    @classmethod
    def make(cls, frames_per_quarter=1, limit=None, seed=0):
        return cls(name=f"fpq{frames_per_quarter}_limit{limit or 'all'}_seed{seed}",
                   frames_per_quarter=frames_per_quarter, limit=limit, seed=seed)


class BachChorales(tfds.core.GeneratorBasedBuilder):
    """Bach chorales from music21 as piano rolls: ``roll`` uint8 (frames, 88) and ``name``."""

    name = "seqkit_bach_chorales"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self):
        return self.dataset_info_from_configs(
            description="Bach's four-part chorales (music21 corpus) as 88-key piano rolls.",
            homepage="https://web.mit.edu/music21/",
            features=tfds.features.FeaturesDict({
                "roll": tfds.features.Tensor(shape=(None, KEYS), dtype=np.uint8),
                "name": tfds.features.Text()}),
            disable_shuffling=True)

    def _split_generators(self, dl_manager):
        del dl_manager  # the corpus ships inside the music21 wheel
        config = self.builder_config
        splits = split_names(chorale_names(config.limit), config.seed)
        return {split: self._generate_examples(splits[split]) for split in SPLITS}

    def _generate_examples(self, names) -> Iterator:
        from music21 import corpus

        for name in names:
            roll = score_to_roll(corpus.parse(name), self.builder_config.frames_per_quarter)
            yield name, {"roll": roll, "name": name}


def load_chorales(split="train", *, frames_per_quarter=1, limit=None, seed=0):
    """One split of the chorales as a list of piano rolls ``uint8 (frames, 88)``.

    Args:
        split: ``"train"``, ``"validation"`` or ``"test"``.
        frames_per_quarter: Frames per quarter note.
        limit: Use only the first ``limit`` chorales by name (at least 3), or all.
        seed: Seed of the split.

    Example:
        >>> rolls = load_chorales("test", limit=5)
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid splits: {list(SPLITS)}.")
    if limit is not None and (not isinstance(limit, int) or limit < 3):
        raise ValueError(f"limit must be None or an int >= 3, received {limit!r}.")
    root = data_dir()
    builder = BachChorales(config=ChoraleConfig.make(frames_per_quarter, limit, int(seed)),
                           data_dir=str(root / "tfds"))
    builder.download_and_prepare(download_dir=str(root / "downloads"))
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    return [example["roll"] for example in tfds.as_numpy(dataset)]
