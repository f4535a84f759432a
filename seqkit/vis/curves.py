"""Training curves of a run from its ``history.json``.

Character-LM runs log per step (``step``, ``nats_per_char``, ``val_step`` ...) and are
drawn with ``seqkit.train.plot_history``; the supervised tasks log per epoch (Keras'
``History``) and are drawn with ``seqkit.train.plot_epochs``.

Example:
    >>> plot_run_curves("runs/char_rnn")           # runs/char_rnn/vis/curves.png
"""

from __future__ import annotations

import json
from pathlib import Path


def load_history(run_dir):
    """The run's ``history.json`` as a dict (ValueError when absent or empty)."""
    path = Path(run_dir) / "history.json"
    if not path.is_file():
        raise ValueError(f"{str(run_dir)!r} has no history.json to plot.")
    history = json.loads(path.read_text())
    if not isinstance(history, dict) or not any(history.values()):
        raise ValueError(f"{str(path)!r} holds no training history (received "
                         f"{str(history)[:80]!r}).")
    return history


def plot_run_curves(run_dir, out=None):
    """Writes ``curves.png`` (``out`` or ``<run_dir>/vis``); returns its path.

    Args:
        run_dir: A run directory with ``history.json``.
        out: Output folder.
    """
    from seqkit.train import plot_epochs, plot_history

    run_dir = Path(run_dir)
    history = load_history(run_dir)
    folder = Path(out) if out else run_dir / "vis"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "curves.png"
    if "step" in history and "nats_per_char" in history:
        history = {"val_step": [], "val_nats_per_char": [], **history}
        plot_history(history, path, title=run_dir.name)
    else:
        per_epoch = {k: v for k, v in history.items()
                     if isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v)}
        if not per_epoch:
            raise ValueError(f"{str(run_dir)!r}: history.json has no numeric series "
                             f"(keys: {sorted(history)}).")
        plot_epochs(per_epoch, path, title=run_dir.name)
    return path
