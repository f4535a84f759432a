"""The search finds a unit planted by hand to count bracket depth."""

import json

import numpy as np
import pytest

from seqkit.builders import build_many_to_many
from seqkit.data import CharVocab
from seqkit.vis import correlations, rank_units, vis_cells
from seqkit.vis.activations import Trace
from tests.vis.conftest import code_text

PLANTED = 5


def plant_bracket_counter(model, vocab, unit=PLANTED, step=0.3):
    """Makes ``unit`` of layer 0 an integrator: i = f = 1, g = ±step on an opening /
    closing bracket, 0 otherwise, so c_t = step · (bracket depth)."""
    cell = model.get_layer("recurrent").rnns[0].cell
    w = cell.named_weights()
    for gate in "ifg":
        w[f"W_x{gate}"][:, unit] = 0.0
        w[f"W_h{gate}"][:, unit] = 0.0
    w["b_i"][unit] = w["b_f"][unit] = 12.0
    w["b_g"][unit] = 0.0
    for char, sign in zip("([{)]}", [1, 1, 1, -1, -1, -1]):
        w["W_xg"][vocab.encode(char)[0], unit] = np.arctanh(step) * sign
    cell.assign_named_weights(w)


def test_planted_bracket_depth_unit_is_ranked_first(tmp_path):
    text = code_text(4)
    vocab = CharVocab.from_text(text)
    model = build_many_to_many("lstm", 12, vocab.size, depth=2, compile=False)
    plant_bracket_counter(model, vocab)
    run_dir = tmp_path / "planted"
    run_dir.mkdir()
    model.save(run_dir / "model.keras")
    vocab.save(run_dir / "vocab.json")
    (run_dir / "config.json").write_text(json.dumps({"task": "char_lm", "model": {
        "cell": "lstm"}}))
    vis_cells(run_dir, text=text, max_chars=len(text), top=3)
    ranking = json.loads((run_dir / "vis" / "cells.json").read_text())
    best = ranking["features"]["bracket_depth"][0]
    assert (best["layer"], best["unit"], best["signal"]) == (0, PLANTED, "tanh(c)")
    assert best["r"] > 0.95
    assert ranking["features"]["bracket_depth"][1]["r"] < best["r"]


def test_correlations_and_ranking_by_absolute_value():
    feature = np.array([0, 1, 1, 0, 1, 0], float)
    signal = np.stack([feature * 2 + 1, -feature, np.ones(6), np.arange(6.0)], axis=1)
    r = correlations(signal, feature)
    np.testing.assert_allclose(r[:3], [1.0, -1.0, 0.0], atol=1e-12)
    trace = Trace(list("abcdef"), np.zeros(6), [_Layer(signal)])
    ranking = rank_units(trace, {"f": feature, "flat": np.zeros(6)}, top=2)
    assert [e["unit"] for e in ranking["features"]["f"]] == [0, 1]
    assert ranking["skipped"] == {"flat": "constant over this text"}
    with pytest.raises(ValueError, match="constant"):
        correlations(signal, np.ones(6))


class _Layer:
    cell_signal = "h"

    def __init__(self, values):
        self.values = values
        self.states = {"h": values}

    def signal(self, name):
        return self.values
