"""Matplotlib figures shared by the visualisations (Agg backend, PNG files).

Example:
    >>> plot_text_units(trace, [(0, "tanh(c)", 3, "quote cell")], "units.png")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _width(token):
    return 4 if token == "\t" else max(1, len(token))


def _layout(tokens, columns, max_lines):
    """Grid positions (row, column) of each token, wrapping lines at ``columns``."""
    positions, row, col = [], 0, 0
    for token in tokens:
        if row >= max_lines:
            break
        positions.append((row, col))
        if token == "\n":
            row, col = row + 1, 0
        else:
            col += _width(token) + (0 if len(token) <= 1 else 1)
            if col >= columns:
                row, col = row + 1, 0
    return positions


def plot_text_units(trace, units, path, max_chars=600, columns=90, max_lines=14):
    """Each unit's value coloured behind the text, one panel per unit (red −1, blue +1).

    Args:
        trace: A ``seqkit.vis.Trace``.
        units: ``[(layer, signal, unit, caption)]``.
        path: PNG file to write.
        max_chars: Tokens shown per panel.
        columns, max_lines: Text wrapping of each panel.

    Returns:
        ``path`` as a ``Path``.
    """
    plt = pyplot()
    tokens = list(trace.tokens[:max_chars])
    positions = _layout(tokens, columns, max_lines)
    tokens = tokens[:len(positions)]
    rows = max((r for r, _ in positions), default=0) + 1
    lines = [[" "] * columns for _ in range(rows)]
    for (row, col), token in zip(positions, tokens):
        shown = "" if token == "\n" else " " * 4 if token == "\t" else token
        for k, char in enumerate(shown[:columns - col]):
            lines[row][col + k] = char if char.isprintable() else " "
    units = list(units) or [(0, trace.layers[0].cell_signal, 0, "")]
    width = columns * 0.075
    fig, axes = plt.subplots(len(units), 1, figsize=(width, (rows * 0.17 + 0.35) * len(units)),
                             squeeze=False)
    fontsize = width * 72 / columns / 0.602 * 0.98     # one monospace advance per column
    cmap = plt.get_cmap("RdBu")
    for ax, (layer, kind, unit, caption) in zip(axes[:, 0], units):
        values = trace.layers[layer].signal(kind)[:, unit]
        grid = np.ones((rows, columns, 4))
        for (row, col), token, value in zip(positions, tokens, values):
            grid[row, col:col + _width(token)] = cmap((value + 1) / 2)
        ax.imshow(grid, aspect="auto", extent=(0, columns, rows, 0), interpolation="nearest")
        for row, chars in enumerate(lines):
            ax.text(0, row + 0.5, "".join(chars).rstrip(), family="DejaVu Sans Mono",
                    fontsize=fontsize, va="center", ha="left")
        ax.set_xlim(0, columns)
        ax.set_ylim(rows, 0)
        ax.axis("off")
        ax.set_title(caption or f"layer {layer} {kind} unit {unit}", fontsize=9, loc="left")
    fig.subplots_adjust(left=0.005, right=0.995, top=1 - 0.25 / fig.get_figheight(),
                        bottom=0.01, hspace=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def scatter_saturation(table, path, title=""):
    """The paper's saturation plot: per gate, each unit at (left-, right-saturated fraction).

    Args:
        table: ``{layer: {gate: {"left": (units,), "right": (units,)}}}``.
        path: PNG file.
    """
    plt = pyplot()
    gates = sorted({g for layer in table.values() for g in layer})
    fig, axes = plt.subplots(1, max(1, len(gates)), figsize=(3.6 * max(1, len(gates)), 3.6),
                             squeeze=False)
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.85, max(1, len(table))))
    for ax, gate in zip(axes[0], gates):
        for colour, (layer, gates_of_layer) in zip(colours, table.items()):
            if gate in gates_of_layer:
                values = gates_of_layer[gate]
                ax.scatter(values["left"], values["right"], s=12, alpha=0.7, color=colour,
                           label=f"layer {layer}")
        ax.plot([0, 1], [1, 0], color="grey", lw=0.8, ls="--")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("fraction left-saturated (< 0.1)")
        ax.set_ylabel("fraction right-saturated (> 0.9)")
        ax.set_title(f"gate {gate}")
        ax.legend(fontsize=7)
    if not gates:
        axes[0, 0].text(0.5, 0.5, "no gates (vanilla RNN)", ha="center")
        axes[0, 0].axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_token_saliency(tokens, maps, path, title="", per_row=14):
    """Tokens in boxes shaded by saliency (white 0 → red 1), one block per map.

    Args:
        tokens: The words.
        maps: ``{"saliency": (n,), "smoothgrad": (n,)}`` in [0, 1].
        path: PNG file.
    """
    plt = pyplot()
    rows = (len(tokens) + per_row - 1) // per_row
    fig, axes = plt.subplots(len(maps), 1, figsize=(per_row * 0.9, 0.6 + 0.45 * rows * 1.2
                                                     * len(maps)), squeeze=False)
    cmap = plt.get_cmap("Reds")
    for ax, (name, values) in zip(axes[:, 0], maps.items()):
        for k, (token, value) in enumerate(zip(tokens, values)):
            row, col = divmod(k, per_row)
            ax.add_patch(plt.Rectangle((col, -row - 1), 0.95, 0.9, color=cmap(0.05 + 0.9 * value)))
            ax.text(col + 0.47, -row - 0.55, token[:10], ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 else "black")
        ax.set_xlim(0, per_row)
        ax.set_ylim(-rows, 0)
        ax.axis("off")
        ax.set_title(name, fontsize=9, loc="left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_pixel_saliency(image, words, maps, path, title=""):
    """The image, then one saliency overlay per word, one row per map kind."""
    plt = pyplot()
    image = np.asarray(image, np.float64)
    grey = image.mean(axis=-1) if image.ndim == 3 else image
    cols = len(words) + 1
    fig, axes = plt.subplots(len(maps), cols, figsize=(1.9 * cols, 2.0 * len(maps)),
                             squeeze=False)
    for row, (name, stack) in enumerate(maps.items()):
        axes[row, 0].imshow(grey, cmap="gray")
        axes[row, 0].set_title("image" if row == 0 else "", fontsize=8)
        axes[row, 0].set_ylabel(name, fontsize=9)
        for k, word in enumerate(words):
            ax = axes[row, k + 1]
            ax.imshow(grey, cmap="gray")
            ax.imshow(stack[k], cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.set_title(word, fontsize=9)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_gradient_flow(curves, path, title="", xlabel="step t"):
    """``||dL_T/dh_t||`` against t on a log scale, one line per curve.

    Args:
        curves: ``{label: (T,) array}``.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in curves.items():
        values = np.asarray(values, np.float64)
        ax.semilogy(np.arange(1, len(values) + 1), np.where(values > 0, values, np.nan),
                    label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("||dL_T / dh_t||")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
