"""Interpretable-cell search: rank every unit by how well it tracks each text feature.

For every layer, every unit's signal (``tanh(c)`` for LSTM-family cells, else ``h``; or
any signal of ``LayerTrace.signal``) is compared with every feature of
``seqkit.vis.features`` by Pearson correlation over the characters of a text; units are
ranked by ``|r|`` (a unit that is *off* inside quotes tracks them as well as one that is
on). For a 0/1 feature this is the point-biserial correlation.

Example:
    >>> from seqkit.vis import load_run, search_cells
    >>> result = search_cells(load_run("runs/char_rnn"), text, top=3)
    >>> result["features"]["in_comment"][0]
    {'layer': 1, 'unit': 17, 'signal': 'tanh(c)', 'r': -0.81}
"""

from __future__ import annotations

import numpy as np

from seqkit.vis.features import feature_signals


def correlations(signal, feature):
    """Pearson correlation of each column of ``signal (T, N)`` with ``feature (T,)``.

    Constant columns get 0. Raises ValueError if the feature itself is constant.
    """
    signal = np.asarray(signal, np.float64)
    feature = np.asarray(feature, np.float64)
    if signal.ndim != 2 or feature.shape != signal.shape[:1]:
        raise ValueError(f"signal must be (T, units) and feature (T,), received shapes "
                         f"{signal.shape} and {feature.shape}.")
    f = feature - feature.mean()
    if not np.any(f):
        raise ValueError("feature is constant over the text: its correlation is undefined.")
    s = signal - signal.mean(axis=0)
    norms = np.linalg.norm(s, axis=0) * np.linalg.norm(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (s.T @ f) / norms
    return np.where(norms > 0, r, 0.0)


def rank_units(trace, features, kinds=None, top=5):
    """Ranks every (layer, signal, unit) of a trace against each feature.

    Args:
        trace: A ``seqkit.vis.Trace`` (one entry per character).
        features: ``{name: (T,) array}``, e.g. from ``feature_signals``.
        kinds: Signals to search (default: each layer's cell signal).
        top: How many units to keep per feature.

    Returns:
        ``{"features": {name: [{"layer", "unit", "signal", "r"}, ...]}, "skipped": {name:
        reason}}``, best first by ``|r|``.

    Example:
        >>> rank_units(trace, feature_signals(text, ["in_quotes"]), top=1)
    """
    signals = trace.signals(kinds)
    keys, columns = [], []
    for (layer, kind), values in signals.items():
        keys += [(layer, kind, unit) for unit in range(values.shape[1])]
        columns.append(values)
    matrix = np.concatenate(columns, axis=1)
    ranked, skipped = {}, {}
    for name, feature in features.items():
        if len(feature) != matrix.shape[0]:
            raise ValueError(f"Feature {name!r} has {len(feature)} values for a trace of "
                             f"{matrix.shape[0]} steps.")
        if np.ptp(feature) == 0:
            skipped[name] = "constant over this text"
            continue
        r = correlations(matrix, feature)
        order = np.argsort(-np.abs(r))[:top]
        ranked[name] = [{"layer": keys[k][0], "signal": keys[k][1], "unit": keys[k][2],
                         "r": float(r[k])} for k in order]
    return {"features": ranked, "skipped": skipped}


def search_cells(run, text, features=None, top=5, kinds=None):
    """Traces a char-LM run over ``text`` and ranks its units against ``features``.

    Args:
        run: A ``Run`` from ``seqkit.vis.load_run`` (a character language model).
        text: The text to read.
        features: Registered feature names (default: all).
        top: Units kept per feature.
        kinds: Signals searched (default ``tanh(c)`` / ``h``).

    Returns:
        ``(trace, ranking)`` with ``ranking`` as in ``rank_units`` plus ``"chars"``.
    """
    from seqkit.vis.activations import trace_run
    from seqkit.vis.runs import require_task

    require_task(run, ("char_lm",), "The interpretable-cell search")
    trace = trace_run(run, text)
    ranking = rank_units(trace, feature_signals(text, features), kinds=kinds, top=top)
    ranking["chars"] = len(text)
    return trace, ranking


def best_units(ranking):
    """``[(feature, entry)]``: the best unit of each feature, strongest first."""
    pairs = [(name, entries[0]) for name, entries in ranking["features"].items() if entries]
    return sorted(pairs, key=lambda pair: -abs(pair[1]["r"]))
