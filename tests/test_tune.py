"""Keras Tuner sweeps over recipes (seqkit.tune and `seqkit tune`), with tiny trials."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras_tuner
import pytest

from seqkit.cli import main
from seqkit.tune import SeqkitHyperModel, default_space, parse_objective, trial_rows, tune

TINY = ["--preset", "tiny", "--trial-budget-s", "1.5", "--set", "model.units=8",
        "--set", "model.depth=1"]
SMALL = ["model.units=8", "model.depth=1"]


@pytest.fixture(autouse=True, scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("seqkit_data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQKIT_DATA_DIR", str(root))
        yield root


def test_hypermodel_builds_recipe_configs_from_the_space():
    hypermodel = SeqkitHyperModel("arithmetic", ["model.depth=2"], preset="tiny",
                                  cells=["gru", "mut1"], trial_budget_s=7, seed=3)
    hp = keras_tuner.HyperParameters()
    config = hypermodel.build(hp)
    assert config["model"]["cell"] == "gru" and config["train"]["time_budget_s"] == 7
    assert config["train"]["seed"] == 3 and config["data"]["num_train"] == 256
    assert config["model"]["depth"] == 2 == hp.values["model.depth"]   # fixed, not tuned
    assert set(hp.values) == {"model.cell", "model.units", "model.depth",
                              "train.learning_rate", "train.global_clipnorm"}
    hp.values["tuner/epochs"] = 3                      # a Hyperband round of 3 of 9
    assert hypermodel.build(hp)["train"]["time_budget_s"] == pytest.approx(7 / 3)
    space = default_space(keras_tuner.HyperParameters(), hypermodel.base)
    assert {"model.units", "model.depth", "train.learning_rate", "train.global_clipnorm",
            "model.dropout"} == set(space)
    assert parse_objective("val_answer_accuracy").direction == "max"
    assert parse_objective("val_loss").direction == "min"


def test_bad_arguments_name_the_received_value(tmp_path):
    with pytest.raises(ValueError, match=r"\['lstn'\].*'lstm'"):
        SeqkitHyperModel("arithmetic", cells=["lstn"])
    with pytest.raises(ValueError, match=r"'grid'.*'random', 'hyperband', 'bayesian'"):
        tune("arithmetic", algorithm="grid", directory=tmp_path)
    with pytest.raises(ValueError, match=r"direction.*'val_loss:up'"):
        parse_objective("val_loss:up")


def test_cli_sweep_writes_sorted_results_and_a_train_override_file(tmp_path, capsys):
    assert main(["tune", "arithmetic", *TINY, "--trials", "2", "--cells", "gru,mut1",
                 "--directory", str(tmp_path), "--project", "p"]) == 0
    out = capsys.readouterr().out
    assert out.count("[seqkit tune] trial") == 2 and "seqkit train arithmetic --config" in out
    results = tmp_path / "p" / "results"
    lines = (results / "results.csv").read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("val_answer_accuracy")
    scores = [float(line.split(",")[column]) for line in lines[1:]]
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)
    assert "| trial | status | val_answer_accuracy |" in (results / "results.md").read_text()
    assert (results / "objective_per_cell.png").stat().st_size > 1000
    best = json.loads((results / "best.json").read_text())
    assert best["model"]["cell"] in ("gru", "mut1") and "run_dir" not in best["train"]
    assert main(["train", "arithmetic", "--config", str(results / "best.json"),
                 "--set", f"train.run_dir={tmp_path / 'run'}", "--set", "train.epochs=1"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["cell"] == best["model"]["cell"]
    assert config["model"]["units"] == 8 == best["model"]["units"]
    assert config["train"]["epochs"] == 1                # --set wins over --config
    assert main(["train", "arithmetic", "--config", str(tmp_path / "none.json")]) == 2


@pytest.mark.parametrize("algorithm", ["hyperband", "bayesian"])
def test_other_algorithms_run_and_only_the_chief_writes(tmp_path, algorithm, monkeypatch):
    from seqkit.tune import write_results

    tuner = tune("xml_modelling", SMALL, preset="tiny", algorithm=algorithm, max_trials=2,
                 cells=["gru"], trial_budget_s=1.5, directory=tmp_path, verbose=0)
    rows = trial_rows(tuner)
    assert len(rows) == 2 and all(r["status"] == "COMPLETED" for r in rows)
    assert all("test_closing_accuracy" in r for r in rows)
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner1")
    assert write_results(tuner, tmp_path / "out") is None and not (tmp_path / "out").exists()
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert write_results(tuner, tmp_path / "out")["csv"].exists()


def test_a_sweep_resumes_without_redoing_finished_trials(tmp_path):
    def sweep(trials):
        return tune("music", SMALL, preset="tiny", max_trials=trials, cells=["lstm_cifg"],
                    trial_budget_s=1.0, directory=tmp_path, project_name="m", verbose=0)

    sweep(1)
    first = tmp_path / "m" / "trial_0" / "trial.json"
    stamp = first.stat().st_mtime_ns
    tuner = sweep(2)
    assert sorted(tuner.oracle.trials) == ["0", "1"] and first.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_a_killed_sweep_continues_where_it_stopped(tmp_path):
    """SIGKILL `seqkit tune` once a trial is done, rerun it: finished trials stay."""
    command = [sys.executable, "-m", "seqkit.cli", "tune", "arithmetic", "--preset", "tiny",
               "--trial-budget-s", "4", "--trials", "4", "--cells", "gru,lstm",
               "--set", "model.units=8", "--set", "model.depth=1",
               "--directory", str(tmp_path), "--project", "k"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    project = tmp_path / "k"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300

    def completed():
        done = {}
        for path in project.glob("trial_*/trial.json"):
            trial = json.loads(path.read_text())
            if trial["status"] == "COMPLETED":
                done[trial["trial_id"]] = path.stat().st_mtime_ns
        return done

    while time.time() < deadline and not (completed() and (project / "tuner0.json").exists()):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = completed()
    assert 1 <= len(before) < 4
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Reloading Tuner" in result.stdout
    after = completed()
    assert len(after) == 4
    assert all(after[trial_id] == stamp for trial_id, stamp in before.items())
    rows = Path(project / "results" / "results.csv").read_text().splitlines()
    assert len(rows) == 5


def test_sweeps_are_seeded_whatever_ran_before(tmp_path, monkeypatch):
    import random

    from seqkit.tune import SeqkitHyperModel as Model
    from seqkit.tune import make_oracle

    monkeypatch.setattr(Model, "fit", lambda self, hp, config, run_dir=None: {"val_loss": 1.0})
    objective = "val_loss"
    tried = []
    for k in range(2):
        random.seed(k)                     # Keras Tuner would draw seed 0's oracle seed here
        tuner = tune("arithmetic", max_trials=3, cells=["gru", "mut1"], seed=0,
                     directory=tmp_path, project_name=f"s{k}", verbose=0, objective=objective)
        tried.append([t.hyperparameters.values for t in tuner.oracle.trials.values()])
    assert tried[0] == tried[1] and len({str(v) for v in tried[0]}) == 3
    with pytest.raises(ValueError, match=r"oracle seed must be an int >= 1, received 0"):
        make_oracle("random", parse_objective("val_loss"), 2, 0)
