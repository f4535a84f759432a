"""Bach chorales (music21) as piano rolls, on a few chorales only."""

import numpy as np
import pytest
from music21 import chord, note, stream

from seqkit.data.music import KEYS, chorale_names, load_chorales, score_to_roll, split_names
from seqkit.tasks.music import roll_arrays


def test_score_to_roll_samples_notes_at_frame_starts():
    part = stream.Stream()
    part.insert(0.0, note.Note("C4", quarterLength=2.0))             # MIDI 60
    part.insert(2.0, chord.Chord(["E4", "G4"], quarterLength=1.0))   # 64, 67
    part.insert(3.0, note.Note("A0", quarterLength=0.5))             # 21, lowest key
    roll = score_to_roll(part)
    assert roll.shape == (4, KEYS) and roll.dtype == np.uint8
    assert np.flatnonzero(roll[0]).tolist() == [60 - 21] == np.flatnonzero(roll[1]).tolist()
    assert np.flatnonzero(roll[2]).tolist() == [64 - 21, 67 - 21]
    assert np.flatnonzero(roll[3]).tolist() == [0]
    eighths = score_to_roll(part, frames_per_quarter=2)
    assert eighths.shape == (7, KEYS) and eighths[6, 0] == 1 and eighths[:4, 39].all()
    with pytest.raises(ValueError, match=r"frames_per_quarter.*received 0"):
        score_to_roll(part, 0)


def test_splits_are_deterministic_disjoint_and_complete():
    names = chorale_names()
    assert len(names) == 371
    splits = split_names(names, seed=0)
    assert splits == split_names(reversed(names), seed=0)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [223, 74, 74]
    assert sorted(sum(splits.values(), [])) == names


def test_load_a_few_chorales_as_rolls():
    rolls = {s: load_chorales(s, limit=5) for s in ("train", "validation", "test")}
    assert [len(rolls[s]) for s in ("train", "validation", "test")] == [3, 1, 1]
    for roll in sum(rolls.values(), []):
        assert roll.shape[1] == KEYS and 20 < len(roll) < 200
        voices = roll.sum(1)
        assert voices.max() <= 4 and np.median(voices) >= 3     # four-part chorales
    x, y = roll_arrays(rolls["train"], window=16)
    assert x.shape[1:] == (16, KEYS) and y.shape == x.shape
    assert (y[0, :15] == x[0, 1:]).all()                        # targets are the next frames
    with pytest.raises(ValueError, match=r"limit.*received 2"):
        load_chorales("train", limit=2)
