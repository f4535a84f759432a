"""Jozefowicz, Zaremba & Sutskever (2015) on this machine: every cell family the paper
compares, on arithmetic, XML modelling and JSB-style music, each with a small random
search per cell under a time budget. Writes benchmarks/results/jozefowicz.{json,md}.

    python -m benchmarks.jozefowicz                       # default: ~2.5 h on 2 CPU cores
    python -m benchmarks.jozefowicz --trials 2 --cell-budget-s 40    # a ~30-minute smoke run
    python -m benchmarks.jozefowicz --full                # 10 trials x 30 min per cell (GPU)

Every sweep is a resumable Keras Tuner project under ``tuner/jozefowicz/<task>_<cell>``:
rerunning the same command continues where an interrupted one stopped. The table
reports, per task and cell, the held-out test metric of the trial that was best on
validation.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time

from benchmarks.common import RESULTS, machine

# name in the table -> (cell, fixed overrides)
JOZEFOWICZ_CELLS = {
    "tanh": ("vanilla", []),
    "lstm (forget bias 0)": ("lstm", ["model.cell_kwargs.unit_forget_bias=False"]),
    "lstm (forget bias 1)": ("lstm", []),
    "lstm_nfg": ("lstm_nfg", []),
    "lstm_nig": ("lstm_nig", []),
    "lstm_nog": ("lstm_nog", []),
    "gru": ("gru", []),
    "mut1": ("mut1", []),
    "mut2": ("mut2", []),
    "mut3": ("mut3", []),
}
# recipe -> (column title, test metric, direction)
JOZEFOWICZ_TASKS = {
    "arithmetic": ("arithmetic: answer accuracy", "test_answer_accuracy", "max"),
    "xml_modelling": ("XML: closing-tag accuracy", "test_closing_accuracy", "max"),
    "music": ("music: NLL (nats/frame)", "test_frame_nll", "min"),
}
DEFAULT = {"trials": 4, "cell_budget_s": 240.0}
# The oracle seed of the first recorded run (every cell tries the same configurations).
ORACLE_SEED = 7962
FULL = {"trials": 10, "cell_budget_s": 1800.0}


def slug(text):
    return "".join(c if c.isalnum() else "_" for c in text).strip("_").replace("__", "_")


def sweep(recipe, label, cell, overrides, trials, cell_budget_s, directory, seed=0,
          oracle_seed=ORACLE_SEED):
    """One small random search for one cell on one task; returns the best trial's metrics."""
    from seqkit.tune import tune, write_results

    project = slug(f"{recipe}_{label}")
    started = time.time()
    tuner = tune(recipe, [*overrides, "train.verbose=0"], algorithm="random",
                 max_trials=trials, seed=seed, directory=directory, project_name=project,
                 cells=[cell], trial_budget_s=cell_budget_s / trials, verbose=0,
                 oracle_seed=oracle_seed)
    write_results(tuner, f"{directory}/{project}/results")
    best = tuner.oracle.get_best_trials(1)
    metrics = {}
    if best and best[0].status == "COMPLETED":
        trial = best[0]
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        metrics["hyperparameters"] = {k: v for k, v in trial.hyperparameters.values.items()
                                      if not k.startswith("tuner/")}
    scores = [t.score for t in tuner.oracle.trials.values()
              if t.status == "COMPLETED" and t.score is not None]
    metrics.update(objective=tuner.oracle.objective.name, objective_scores=scores,
                   completed_trials=len(scores), sweep_time_s=time.time() - started)
    return metrics


def fmt(value, best=False):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    text = f"{value:.3f}"
    return f"**{text}**" if best else text


def table(results, cells, tasks):
    """A markdown table, cell x task, best per column in bold."""
    lines = ["| cell | " + " | ".join(tasks[t][0] + (" ↑" if tasks[t][2] == "max" else " ↓")
                                      for t in tasks) + " |",
             "| --- |" + " --- |" * len(tasks)]
    best = {}
    for task, (_, metric, direction) in tasks.items():
        values = [results.get(task, {}).get(c, {}).get(metric) for c in cells]
        values = [v for v in values if v is not None]
        best[task] = (max if direction == "max" else min)(values) if values else None
    for cell in cells:
        row = []
        for task, (_, metric, _) in tasks.items():
            value = results.get(task, {}).get(cell, {}).get(metric)
            row.append(fmt(value, value is not None and value == best[task]))
        lines.append(f"| {cell} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def reusable(other, task, label, trials, cell_budget_s):
    """The result of the same sweep in benchmarks/results/<other>.json, if it ran with the
    same budget (same recipe, cell, search space, seed: the same trials), else None."""
    path = RESULTS / f"{other}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    budget = data.get("budget", {})
    if budget.get("trials_per_cell") != trials or budget.get("cell_budget_s") != cell_budget_s:
        return None
    found = data.get("results", {}).get(task, {}).get(label)
    return {**found, "reused_from": f"benchmarks/results/{other}.json"} if found else None


def run_benchmark(name, title, cells, tasks, args, notes="", reuse=None):
    """Runs every (task, cell) sweep, rewriting the result files after each one.

    ``reuse`` maps a row label to ``(other benchmark, its label)``: that row is copied
    from the other benchmark's results when it ran the identical sweep.
    """
    budget = FULL if args.full else DEFAULT
    trials = args.trials or budget["trials"]
    cell_budget_s = args.cell_budget_s or budget["cell_budget_s"]
    chosen_cells = {k: v for k, v in cells.items() if not args.cells or k in args.cells
                    or v[0] in args.cells}
    chosen_tasks = {k: v for k, v in tasks.items() if not args.tasks or k in args.tasks}
    command = "python -m benchmarks." + name + " " + " ".join(map(shlex.quote, sys.argv[1:]))
    results_path = RESULTS / f"{name}.json"
    results, commands, earlier_s = {}, [], 0.0
    previous = json.loads(results_path.read_text()) if results_path.exists() else {}
    same_budget = (previous.get("budget", {}).get("trials_per_cell") == trials
                   and previous.get("budget", {}).get("cell_budget_s") == cell_budget_s)
    if same_budget and not args.restart:  # continue the same budget's sweeps, else afresh
        results = previous.get("results", {})
        commands = previous.get("commands", [previous.get("command")])
        earlier_s = previous.get("wall_time_s", 0.0)
    commands = [c for c in commands if c] + [command]
    started = time.time()
    for task in chosen_tasks:
        for label, (cell, overrides) in chosen_cells.items():
            other = (reuse or {}).get(label)
            found = other and reusable(other[0], task, other[1], trials, cell_budget_s)
            if found:
                print(f"[{name}] {task} / {label}: the same sweep from {other[0]}", flush=True)
                results.setdefault(task, {})[label] = found
            else:
                print(f"[{name}] {task} / {label}: {trials} trials, {cell_budget_s:.0f} s",
                      flush=True)
                results.setdefault(task, {})[label] = sweep(
                    task, label, cell, overrides, trials, cell_budget_s,
                    f"{args.directory}/{name}", oracle_seed=args.oracle_seed)
            write(name, title, results, cells, tasks, commands, trials, cell_budget_s,
                  earlier_s + time.time() - started, notes, args.oracle_seed)
    return results


def write(name, title, results, cells, tasks, commands, trials, cell_budget_s, wall_s, notes,
          oracle_seed):
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine(), "commands": commands,
            "budget": {"trials_per_cell": trials, "cell_budget_s": cell_budget_s,
                       "trial_budget_s": cell_budget_s / trials, "algorithm": "random",
                       "seed": 0, "oracle_seed": oracle_seed},
            "wall_time_s": wall_s, "results": results}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, default=float))
    m = data["machine"]
    text = (f"# {title}\n\nMeasured here, {m['date']}, {m['cpus']} CPUs, GPUs: "
            f"{m['gpus'] or 'none'}, TensorFlow {m['tensorflow']}, Keras {m['keras']}.\n\n"
            f"Commands: {'; '.join(f'`{c}`' for c in commands)}. Budget: a random search of "
            f"{trials} trials per cell and task, {cell_budget_s:.0f} s of training per cell "
            f"({cell_budget_s / trials:.0f} s per trial, wall clock, on a CPU shared with other "
            f"jobs), training seed 0, oracle seed {oracle_seed} (every cell tries the same "
            f"configurations); the sweeps took {wall_s / 60:.0f} minutes. Each entry is the "
            f"test-split result of the trial that was best on the validation split.\n\n"
            f"{table(results, list(cells), tasks)}\n\n{notes}")
    reused = sorted({f"{label} ({r['reused_from']})" for rows in results.values()
                     for label, r in rows.items() if r.get("reused_from")})
    if reused:
        text += ("\nRows copied from the identical sweeps (same recipe, cell, search space, "
                 f"seed and budget) of another benchmark: {', '.join(reused)}.\n")
    (RESULTS / f"{name}.md").write_text(text)


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--trials", type=int, default=None, help="trials per cell and task")
    p.add_argument("--cell-budget-s", type=float, default=None, dest="cell_budget_s",
                   help="seconds of training per cell and task (split over the trials)")
    p.add_argument("--full", action="store_true", help="larger budgets (a GPU or a day)")
    p.add_argument("--cells", nargs="*", default=None, help="only these rows")
    p.add_argument("--tasks", nargs="*", default=None, help="only these tasks")
    p.add_argument("--directory", default="tuner", help="tuner output root")
    p.add_argument("--oracle-seed", type=int, default=ORACLE_SEED, dest="oracle_seed",
                   help="seed of the random search (the same configurations for every cell)")
    p.add_argument("--restart", action="store_true",
                   help="forget results already in benchmarks/results/<name>.json")
    return p


NOTES = ("Tasks: arithmetic = two numbers of up to 4 digits with distractor letters, the "
         "answer predicted character by character (`recipes/arithmetic.py`); XML = synthetic "
         "nested tags, accuracy on the closing-tag characters the open tags determine "
         "(`recipes/xml_modelling.py`); music = the Bach chorales of music21 as 88-key piano "
         "rolls at quarter-note frames, nats per frame (`recipes/music.py`).\n")


def main():
    args = parser(__doc__).parse_args()
    run_benchmark("jozefowicz", "Jozefowicz et al. (2015) cell comparison, measured here",
                  JOZEFOWICZ_CELLS, JOZEFOWICZ_TASKS, args, NOTES)


if __name__ == "__main__":
    main()
