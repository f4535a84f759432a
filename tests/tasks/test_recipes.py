"""Each recipe of issue 4 end to end on its real embedded data, with tiny budgets."""

import json

import numpy as np
import pytest

from seqkit.config import recipe_config
from seqkit.train import run

TINY = ["train.epochs=1", "train.time_budget_s=4", "train.verbose=0", "train.resume=False"]


def _run(recipe, tmp_path, *overrides):
    config = recipe_config(recipe, [*TINY, f"train.run_dir={tmp_path}", *overrides])
    model, result = run(config)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert (tmp_path / "model.keras").exists() and (tmp_path / "curves.png").exists()
    return model, result["metrics"], saved


def test_sentiment_beats_the_majority_baseline(tmp_path):
    _, metrics, saved = _run("sentiment", tmp_path, "model.cell=gru_cho", "train.epochs=1",
                             "train.time_budget_s=25")
    assert saved["test_accuracy"] == metrics["test_accuracy"]
    assert metrics["test_accuracy"] > metrics["majority_baseline_accuracy"] + 0.05
    assert metrics["class_names"] == ["negative", "neutral", "positive"]
    assert (tmp_path / "vocab.json").exists()


def test_sequence_classify_reads_image_rows(tmp_path):
    model, metrics, _ = _run("sequence_classify", tmp_path, "model.cell=mut3",
                             "model.units=32", "train.time_budget_s=15")
    assert model.input["frames"].shape[1:] == (None, 28)
    assert metrics["test_accuracy"] > 0.3 > metrics["majority_baseline_accuracy"]


@pytest.mark.parametrize("conditioning", ["input", "initial_state"])
def test_caption_decodes_greedy_and_beam(tmp_path, conditioning):
    _, metrics, _ = _run("caption", tmp_path, f"model.conditioning={conditioning}",
                         "data.num_train=600", "data.num_validation=50", "data.num_test=50",
                         "eval.examples=20", "model.units=32", "train.time_budget_s=10")
    for mode in ("greedy", "beam"):
        assert 0 <= metrics[f"{mode}_bleu4"] <= 100 and 0 <= metrics[f"{mode}_exact_match"] <= 1
        assert len(metrics[f"{mode}_examples"]) == 5


@pytest.mark.parametrize("attention", ["none", "bahdanau"])
def test_translate_with_and_without_attention(tmp_path, attention):
    model, metrics, _ = _run("translate", tmp_path, f"model.attention={attention}",
                             "model.units=32", "model.embedding_dim=16", "eval.examples=10",
                             "data.max_tokens=6")
    assert ("attention" in {layer.name for layer in model.layers}) == (attention != "none")
    for mode in ("greedy", "beam"):
        assert 0 <= metrics[f"{mode}_bleu"] <= 100 and 0 <= metrics[f"{mode}_chrf"] <= 100
    assert (tmp_path / "source_vocab.json").exists()


def test_repeated_ones_hand_set_weights_are_exact_and_training_learns(tmp_path):
    config = recipe_config("repeated_ones", [
        "train.restarts=1", "train.epochs=5", "data.train_strings=300",
        "data.test_strings=100", f"train.run_dir={tmp_path}"])
    _, result = run(config)
    metrics = result["metrics"]
    assert metrics["hand_set_exact"] == 1.0
    losses = result["history"]["attempt_loss"][0]
    assert losses[-1] < losses[0]
    assert np.array(metrics["learned_weights"]["W_hh"]).shape == (3, 3)


def test_unknown_classify_source(tmp_path):
    config = recipe_config("sentiment", [f"train.run_dir={tmp_path}", "data.source=audio"])
    with pytest.raises(ValueError, match=r"'audio'.*'text', 'image_rows'"):
        run(config)
