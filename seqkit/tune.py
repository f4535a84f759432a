"""Keras Tuner sweeps over any recipe: ``tune(recipe, ...)`` and ``write_results(tuner, dir)``.

Each trial is one ordinary training run of the recipe (``seqkit.train.run``)
with some config values chosen by the tuner, in ``<directory>/<project>/trial_<id>/run``.
The values come from the recipe's ``search_space(hp)`` when it defines one,
else from :func:`default_space` (units, depth, learning rate, clipping,
dropout); the cell is always chosen among ``cells`` (by default every
registered cell). A search space returns config overrides as a flat dict
``{"section.key": value}``; name each hyperparameter after the key it sets.

Sweeps are seeded (the oracle's seed and every run's ``train.seed``) and
resumable: rerunning the same ``directory``/``project_name`` without
``overwrite`` reloads the finished trials and reruns the one that was
interrupted. Keras Tuner's distributed mode works unchanged
(``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``);
only the chief, or a single process, writes the results table.

With ``algorithm="hyperband"`` a trial's resource ``tuner/epochs`` scales its
time budget (``trial_budget_s · epochs / max_epochs``) or, without a budget,
sets ``train.epochs``; trials start from scratch (no weights are carried
between Hyperband rounds).

Example:
    >>> tuner = tune("arithmetic", ["model.units=32"], max_trials=4, cells=["gru", "mut1"],
    ...              trial_budget_s=30)
    >>> write_results(tuner, "tuner/arithmetic/results")
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import time
from pathlib import Path

import keras
import keras_tuner

from seqkit.config import load_recipe, merge, parse_value, recipe_config

ALGORITHMS = ("random", "hyperband", "bayesian")
HYPERBAND_MAX_EPOCHS = 9


def default_space(hp, config):
    """The default search space: units, depth, learning rate, clipping and dropout.

    Args:
        hp: A ``keras_tuner.HyperParameters``.
        config: The recipe config (its ``model.units`` centres the units choice).

    Returns:
        ``{"model.units": ..., "model.depth": ..., "train.learning_rate": ...,
        "train.global_clipnorm": ..., "model.dropout": ...}``.

    Example:
        >>> default_space(keras_tuner.HyperParameters(), recipe_config("arithmetic"))
    """
    base = int(config["model"]["units"])
    units = sorted({max(8, base // 2), base, base * 2})
    return {
        "model.units": hp.Choice("model.units", units),
        "model.depth": hp.Int("model.depth", 1, 2),
        "train.learning_rate": hp.Float("train.learning_rate", 3e-4, 1e-2, sampling="log"),
        "train.global_clipnorm": hp.Choice("train.global_clipnorm", [1.0, 5.0, 10.0]),
        "model.dropout": hp.Float("model.dropout", 0.0, 0.4, step=0.1),
    }


def nest(flat):
    """``{"model.units": 8}`` -> ``{"model": {"units": 8}}``."""
    nested = {}
    for key, value in flat.items():
        node, parts = nested, key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def config_diff(config, base):
    """The nested dict of the values of ``config`` that differ from ``base``."""
    diff = {}
    for key, value in config.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            sub = config_diff(value, base[key])
            if sub:
                diff[key] = sub
        elif key not in base or base[key] != value:
            diff[key] = copy.deepcopy(value)
    return diff


def parse_objective(spec):
    """``"val_loss"`` / ``"val_accuracy"`` / ``"name:max"`` -> ``keras_tuner.Objective``.

    Without ``:min``/``:max`` the direction is ``max`` for names holding
    ``accuracy`` and ``min`` otherwise.
    """
    name, _, direction = str(spec).partition(":")
    direction = direction or ("max" if "accuracy" in name else "min")
    if direction not in ("min", "max"):
        raise ValueError(f"Objective direction must be 'min' or 'max', received {spec!r}.")
    return keras_tuner.Objective(name, direction)


def default_objective(recipe_module, config):
    """The recipe's ``OBJECTIVE`` (e.g. ``"val_answer_accuracy:max"``), else by task."""
    spec = getattr(recipe_module, "OBJECTIVE", None)
    if spec is None:
        spec = "val_nats_per_char" if config["task"] == "char_lm" else "val_loss"
    return parse_objective(spec)


def _numbers(result):
    """Last value of each numeric history series, then the run's numeric metrics."""
    values = {}
    for key, series in result["history"].items():
        if isinstance(series, list) and series and isinstance(series[-1], (int, float)):
            values[key] = float(series[-1])
    for key, value in result["metrics"].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values[key] = float(value)
    return values


class _FixedKeys:
    """Wraps ``HyperParameters``: a hyperparameter named after a fixed key is ``Fixed``."""

    def __init__(self, hp, fixed):
        self._hp, self._fixed = hp, fixed

    def __getattr__(self, attr):
        method = getattr(self._hp, attr)
        if attr not in ("Choice", "Int", "Float", "Boolean"):
            return method

        def declare(name, *args, **kwargs):
            if name in self._fixed:
                return self._hp.Fixed(name, self._fixed[name])
            return method(name, *args, **kwargs)

        return declare


class SeqkitHyperModel(keras_tuner.HyperModel):
    """A recipe as a hypermodel: ``build(hp)`` gives the trial's config, ``fit`` trains it.

    ``build`` returns a recipe config (a dict), not a Keras model: the model is
    built by the task inside ``seqkit.train.run``; use it with
    :class:`SeqkitTuner`, whose ``run_trial`` calls ``build`` then ``fit``.

    Args:
        recipe: Recipe name (``recipes/<name>.py``).
        overrides: ``["section.key=value", ...]`` applied to every trial; a key
            given here is not tuned even when the space names it.
        preset: A named preset of the recipe.
        space: ``space(hp, config) -> {"section.key": value}``; default: the
            recipe's ``search_space(hp)`` or :func:`default_space`.
        cells: Cell names to choose from (default: every registered cell).
        trial_budget_s: Wall-time budget of each trial (``train.time_budget_s``).
        seed: ``train.seed`` of every trial.

    Example:
        >>> hypermodel = SeqkitHyperModel("arithmetic", cells=["gru", "lstm"])
        >>> config = hypermodel.build(keras_tuner.HyperParameters())
    """

    def __init__(self, recipe, overrides=(), preset=None, space=None, cells=None,
                 trial_budget_s=None, seed=0):
        from seqkit.cells import CELLS

        super().__init__(name=str(recipe))
        self.recipe, self.overrides, self.preset = recipe, list(overrides or ()), preset
        self.module = load_recipe(recipe)
        self.base = recipe_config(recipe, self.overrides, preset=preset)
        cells = list(cells) if cells else sorted(CELLS)
        unknown = [c for c in cells if c not in CELLS]
        if unknown:
            raise ValueError(f"Unknown cell names {unknown}; valid names: {sorted(CELLS)}.")
        self.cells, self.trial_budget_s, self.seed = cells, trial_budget_s, int(seed)
        self.fixed = {item.split("=", 1)[0].strip(): parse_value(item.split("=", 1)[1])
                      for item in self.overrides}
        if space is None and hasattr(self.module, "search_space"):
            space = lambda hp, config: self.module.search_space(hp)  # noqa: E731
        self.space = space or default_space

    def choices(self, hp):
        """The trial's config overrides, ``{"section.key": value}``.

        A key fixed by ``overrides`` is not tuned: its hyperparameter (named after
        the key) is declared ``Fixed`` at the override's value.
        """
        chosen = {"model.cell": hp.Choice("model.cell", self.cells)
                  if len(self.cells) > 1 else hp.Fixed("model.cell", self.cells[0])}
        space = self.space(_FixedKeys(hp, self.fixed), self.base)
        chosen.update({k: v for k, v in space.items() if k != "model.cell"})
        chosen.update({k: v for k, v in self.fixed.items() if k in chosen})
        return chosen

    def build(self, hp):
        config = merge(self.base, nest(self.choices(hp)))
        config["train"]["seed"] = self.seed
        if self.trial_budget_s:
            config["train"]["time_budget_s"] = float(self.trial_budget_s)
        resource = hp.values.get("tuner/epochs")
        if resource:
            if self.trial_budget_s:
                config["train"]["time_budget_s"] = (
                    float(self.trial_budget_s) * resource / HYPERBAND_MAX_EPOCHS)
            else:
                config["train"]["epochs"] = int(resource)
        return config

    def fit(self, hp, config, run_dir=None, **kwargs):
        """Trains ``config`` with ``seqkit.train.run``; returns its numeric metrics."""
        from seqkit.train import run

        config = copy.deepcopy(config)
        if run_dir is not None:
            config["train"]["run_dir"] = str(run_dir)
        _, result = run(config)
        return _numbers(result)


class SeqkitTuner(keras_tuner.Tuner):
    """A ``keras_tuner.Tuner`` whose trials are seqkit training runs (any oracle)."""

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        config = self.hypermodel.build(hp)
        keras.backend.clear_session()
        run_dir = Path(self.get_trial_dir(trial.trial_id)) / "run"
        started = time.time()
        values = self.hypermodel.fit(hp, config, run_dir=run_dir)
        values["trial_time_s"] = time.time() - started
        name, direction = self.oracle.objective.name, self.oracle.objective.direction
        if name not in values:
            raise keras_tuner.errors.FailedTrialError(
                f"The run reported no {name!r}; it reported {sorted(values)}.")
        if not math.isfinite(values[name]):
            values[name] = 1e9 if direction == "min" else -1e9
        return values

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        chosen = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.hyperparameters.values.items()
                           if not k.startswith("tuner/"))
        name = self.oracle.objective.name
        metric = trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None
        try:  # a distributed worker's oracle is a client with fewer attributes
            best = self.oracle.get_best_trials(1)
            best_score = best[0].score if best else None
            done = sum(t.status == "COMPLETED" for t in self.oracle.trials.values())
            total = self.oracle.max_trials or "?"
        except (AttributeError, TypeError):
            best_score, done, total = None, "?", "?"
        print(f"[seqkit tune] trial {trial.trial_id} {trial.status.lower()} ({done}/{total} "
              f"done): {chosen} -> {name} {_fmt(metric)} (best {_fmt(best_score)})", flush=True)


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def make_oracle(algorithm, objective, max_trials, seed):
    """The Keras Tuner oracle of ``algorithm`` ("random", "hyperband" or "bayesian").

    ``seed`` must be >= 1: Keras Tuner reads 0 (and None) as "draw a seed from
    Python's global ``random``", which makes the sweep depend on what ran before.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 1:
        raise ValueError(f"The oracle seed must be an int >= 1, received {seed!r}.")
    if algorithm == "random":
        return keras_tuner.oracles.RandomSearchOracle(objective, max_trials=max_trials,
                                                      seed=seed)
    if algorithm == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(
            objective, max_trials=max_trials, seed=seed,
            num_initial_points=max(1, min(3, max_trials - 1)))
    if algorithm == "hyperband":
        oracle = keras_tuner.oracles.HyperbandOracle(
            objective, max_epochs=HYPERBAND_MAX_EPOCHS, factor=3, hyperband_iterations=1,
            seed=seed)
        oracle.max_trials = max_trials  # stop after max_trials even mid-bracket
        return oracle
    raise ValueError(f"Unknown algorithm {algorithm!r}; valid choices: {list(ALGORITHMS)}.")


def is_chief_or_single():
    """True unless this process is a Keras Tuner worker (``KERASTUNER_TUNER_ID`` != chief)."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    return tuner_id is None or tuner_id == "chief"


def tune(recipe, overrides=(), preset=None, algorithm="random", max_trials=10, seed=0,
         directory="tuner", project_name=None, cells=None, objective=None,
         trial_budget_s=None, overwrite=False, space=None, verbose=1, oracle_seed=None):
    """Runs (or resumes) a Keras Tuner sweep over ``recipe``; returns the tuner.

    Args:
        recipe: Recipe name.
        overrides: ``["section.key=value", ...]`` fixed for every trial.
        preset: A named preset of the recipe.
        algorithm: ``"random"``, ``"hyperband"`` or ``"bayesian"``.
        max_trials: Number of trials of the sweep (in total, across resumptions).
        seed: Every trial's ``train.seed`` (and the oracle's seed, ``seed + 1``).
        directory, project_name: Tuner output, ``directory/project_name``
            (default project: the recipe's name).
        cells: Cell names the sweep chooses from (default: every registered cell).
        objective: Metric name, optionally ``"name:min"``/``"name:max"`` (default:
            the recipe's ``OBJECTIVE``, else ``val_nats_per_char`` or ``val_loss``).
        trial_budget_s: Wall-time budget of each trial in seconds.
        overwrite: Start over instead of resuming an existing project.
        space: ``space(hp, config) -> {"section.key": value}`` replacing the default.
        oracle_seed: Seed of the oracle's sampling (default ``seed + 1``; must be >= 1).

    Returns:
        The ``SeqkitTuner`` after ``search`` (its ``oracle.trials`` hold the results).

    Example:
        >>> tuner = tune("arithmetic", max_trials=3, cells=["gru"], trial_budget_s=10)
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"Unknown algorithm {algorithm!r}; valid choices: {list(ALGORITHMS)}.")
    if not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(f"max_trials must be an int >= 1, received {max_trials!r}.")
    hypermodel = SeqkitHyperModel(recipe, overrides, preset, space=space, cells=cells,
                                  trial_budget_s=trial_budget_s, seed=seed)
    objective = (parse_objective(objective) if objective
                 else default_objective(hypermodel.module, hypermodel.base))
    oracle_seed = seed + 1 if oracle_seed is None else oracle_seed
    tuner = SeqkitTuner(make_oracle(algorithm, objective, max_trials, oracle_seed),
                        hypermodel=hypermodel, directory=str(directory),
                        project_name=project_name or str(recipe).replace("-", "_"),
                        overwrite=overwrite)
    tuner.search(verbose=verbose)
    return tuner


def trial_rows(tuner):
    """One dict per trial (id, status, objective, chosen values, reported metrics),
    completed trials first, best first."""
    objective = tuner.oracle.objective
    rows = []
    for trial in tuner.oracle.trials.values():
        row = {"trial": trial.trial_id, "status": trial.status,
               objective.name: trial.score}
        row.update({k: v for k, v in trial.hyperparameters.values.items()
                    if not k.startswith("tuner/")})
        for name in sorted(trial.metrics.metrics):
            if name != objective.name:
                row[name] = trial.metrics.get_last_value(name)
        rows.append(row)
    sign = -1 if objective.direction == "max" else 1

    def key(row):
        score = row[objective.name]
        return (row["status"] != "COMPLETED" or score is None,
                sign * score if score is not None else 0.0, row["trial"])

    return sorted(rows, key=key)


def best_overrides(tuner):
    """The best trial's config as an override file: its values that differ from the
    recipe's defaults (``seqkit train RECIPE --config best.json``)."""
    best = tuner.oracle.get_best_trials(1)
    if not best:
        return None
    hypermodel = tuner.hypermodel
    config = hypermodel.build(best[0].hyperparameters)
    config["train"]["run_dir"] = None
    return config_diff(config, hypermodel.module.config())


def write_results(tuner, out_dir):
    """Writes results.csv and results.md (sorted by the objective), best.json (an
    override file for ``seqkit train --config``) and objective_per_cell.png.

    Does nothing in a Keras Tuner worker process (only the chief writes).

    Returns:
        ``{"csv", "md", "best", "plot"}`` paths, or None in a worker.

    Example:
        >>> write_results(tune("arithmetic", max_trials=2), "tuner/arithmetic/results")
    """
    if not is_chief_or_single():
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(tuner)
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    objective = tuner.oracle.objective
    hypermodel = tuner.hypermodel
    # The table shows the chosen values and the held-out results; the CSV has every metric.
    shown = columns[:3] + [c for c in columns[3:] if "." in c or c.startswith("test_")] + [
        "trial_time_s"]
    shown = [c for c in shown if c in columns] or columns
    lines = [f"# Sweep of `{hypermodel.recipe}`: {len(rows)} trials, objective "
             f"{objective.name} ({objective.direction})", "",
             f"Fixed overrides: {hypermodel.overrides or 'none'}; preset: "
             f"{hypermodel.preset or 'none'}; trial budget: "
             f"{hypermodel.trial_budget_s or 'none'} s; seed {hypermodel.seed}.", "",
             "| " + " | ".join(shown) + " |", "|" + " --- |" * len(shown)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in shown) + " |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    best = best_overrides(tuner)
    (out / "best.json").write_text(json.dumps(best or {}, indent=2, sort_keys=True) + "\n")
    plot_objective_per_cell(rows, objective, out / "objective_per_cell.png")
    return {"csv": out / "results.csv", "md": out / "results.md", "best": out / "best.json",
            "plot": out / "objective_per_cell.png"}


def plot_objective_per_cell(rows, objective, path):
    """Each completed trial's objective, one column per cell type, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["status"] == "COMPLETED" and r[objective.name] is not None]
    cells = sorted({r.get("model.cell") for r in done}, key=str)
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(cells) + 2), 3.5))
    for i, cell in enumerate(cells):
        scores = [r[objective.name] for r in done if r.get("model.cell") == cell]
        ax.plot([i] * len(scores), scores, "o", alpha=0.7)
        best = max(scores) if objective.direction == "max" else min(scores)
        ax.plot([i - 0.3, i + 0.3], [best, best], "k-")
    ax.set_xticks(range(len(cells)), [str(c) for c in cells], rotation=45, ha="right")
    ax.set_ylabel(f"{objective.name} ({objective.direction})")
    ax.set_title("objective per cell type (line: best)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
