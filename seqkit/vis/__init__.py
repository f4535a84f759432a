"""Seeing inside recurrent networks: activations over text, interpretable-cell search,
gate saturation, gradient flow, saliency (tf-keras-vis) and training curves.

Every ``seqkit vis <command> RUN_DIR`` is one function of ``seqkit.vis.commands``; the
pieces they are made of are importable on their own.

Example:
    >>> from seqkit.vis import load_run, search_cells, best_units
    >>> trace, ranking = search_cells(load_run("runs/char_rnn"), open("fork.c").read())
    >>> best_units(ranking)[0]
    ('in_comment', {'layer': 1, 'signal': 'tanh(c)', 'unit': 17, 'r': -0.81})
"""

from seqkit.vis.activations import (
    GATES,
    LayerTrace,
    Trace,
    gates_of,
    register_gates,
    trace_model,
    trace_run,
)
from seqkit.vis.commands import (
    vis_activations,
    vis_cells,
    vis_curves,
    vis_gradient_flow,
    vis_saliency,
    vis_saturation,
)
from seqkit.vis.curves import plot_run_curves
from seqkit.vis.features import FEATURES, feature_signals, register_feature
from seqkit.vis.gradient_flow import (
    compare_cells,
    gradient_norms,
    lm_gradient_flow,
    recurrent_singular_values,
    train_and_watch,
)
from seqkit.vis.html import activation_page, write_activation_page
from seqkit.vis.interpretable import best_units, correlations, rank_units, search_cells
from seqkit.vis.runs import Run, load_run
from seqkit.vis.saliency import frame_saliency, pixel_saliency, token_saliency
from seqkit.vis.saturation import gate_saturation

__all__ = [
    "FEATURES", "GATES", "LayerTrace", "Run", "Trace", "activation_page", "best_units",
    "compare_cells", "correlations", "feature_signals", "frame_saliency", "gate_saturation",
    "gates_of", "gradient_norms", "lm_gradient_flow", "load_run", "pixel_saliency",
    "plot_run_curves", "rank_units", "recurrent_singular_values", "register_feature",
    "register_gates", "search_cells", "token_saliency", "trace_model", "trace_run",
    "train_and_watch", "vis_activations", "vis_cells", "vis_curves", "vis_gradient_flow",
    "vis_saliency", "vis_saturation", "write_activation_page",
]
