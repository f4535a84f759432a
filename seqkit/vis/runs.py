"""Loading what the visualisations need from a run directory (``runs/<name>/``).

Reuses the project's loaders: ``seqkit.export.resolve_run`` (a path or a recipe name),
``seqkit.data.CharVocab`` / ``seqkit.data.words.WordVocab`` and ``seqkit.data.load_text``.

Example:
    >>> run = load_run("runs/char_rnn")
    >>> run.task, run.vocab.size
    ('char_lm', 85)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Tasks whose model reads token ids through an encoder layer into a ``recurrent`` stack.
TOKEN_TASKS = ("char_lm", "classify")


@dataclass
class Run:
    """A trained run: its directory, config, Keras model and vocabulary (or None)."""

    run_dir: Path
    config: dict
    model: object
    vocab: object

    @property
    def task(self):
        return self.config.get("task", "char_lm")

    def out_dir(self, out=None):
        """``out``, or ``<run_dir>/vis`` by default; created."""
        path = Path(out) if out else self.run_dir / "vis"
        path.mkdir(parents=True, exist_ok=True)
        return path


def load_run(run_or_recipe, runs_dir="runs"):
    """Loads ``model.keras``, ``config.json`` and the vocabulary of a run.

    Args:
        run_or_recipe: A run directory, or a recipe name meaning ``runs/<recipe>``.
        runs_dir: Where recipe runs live.

    Returns:
        A ``Run``.

    Example:
        >>> load_run("runs/sentiment").task
        'classify'
    """
    import keras

    import seqkit.builders  # noqa: F401  (registers RepeatOverTime)
    import seqkit.layers  # noqa: F401  (registers the serialisable layers)
    from seqkit.export import resolve_run

    run_dir = resolve_run(run_or_recipe, runs_dir=runs_dir)
    missing = [n for n in ("model.keras", "config.json") if not (run_dir / n).exists()]
    if missing:
        raise ValueError(f"{str(run_dir)!r} is not a trained run directory: missing {missing}.")
    config = json.loads((run_dir / "config.json").read_text())
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    vocab = None
    if (run_dir / "vocab.json").exists():
        if config.get("task", "char_lm") == "char_lm":
            from seqkit.data import CharVocab

            vocab = CharVocab.load(run_dir / "vocab.json")
        else:
            from seqkit.data.words import WordVocab

            vocab = WordVocab.load(run_dir / "vocab.json")
    return Run(Path(run_dir), config, model, vocab)


def require_task(run, tasks, what):
    """Raises ValueError unless ``run.task`` is one of ``tasks``."""
    if run.task not in tasks:
        raise ValueError(f"{what} needs a run whose task is one of {list(tasks)}; "
                         f"{str(run.run_dir)!r} has task {run.task!r}.")
    if run.task == "classify" and run.vocab is None:
        raise ValueError(f"{what} needs a text classifier (vocab.json); {str(run.run_dir)!r} "
                         "classifies frames.")


def default_text(run, max_chars=2000):
    """Text to visualise when none is given: the start of the run's held-out split."""
    if run.task != "char_lm":
        raise ValueError(f"Give --text or --text-file for a {run.task!r} run "
                         f"({str(run.run_dir)!r}); only char_lm runs have a default text.")
    from seqkit.data import load_text

    data = run.config.get("data", {})
    text = load_text(data.get("corpus", "shakespeare"), split="validation",
                     validation_fraction=data.get("validation_fraction", 0.05))
    return text[:max_chars]


def read_text(text=None, text_file=None):
    """The text of ``--text`` or ``--text-file`` (one at most), or None."""
    if text is not None and text_file is not None:
        raise ValueError(f"Give --text or --text-file, not both (received text={text!r:.40}, "
                         f"text_file={text_file!r}).")
    if text_file is not None:
        path = Path(text_file)
        if not path.is_file():
            raise ValueError(f"--text-file {str(path)!r} is not a file.")
        return path.read_text(encoding="utf-8", errors="replace")
    return text
