import keras
import pytest

from seqkit.cells import CELLS, get_cell

# One cell per family file: what `make test` runs of the costliest per-cell tests.
FAMILY_REPRESENTATIVES = {"vanilla", "lstm", "lstm_fgr", "gru", "gru_cho", "mut1", "mingru"}


def only_in_slow_beyond(kept):
    """Every registered cell as a parameter, those not in ``kept`` marked slow (-m slow)."""
    return [name if name in kept else pytest.param(name, marks=pytest.mark.slow)
            for name in sorted(CELLS)]


def random_weights(cell, rng, scale=0.5):
    """Random values for every named weight of a built cell."""
    return {
        name: (rng.standard_normal(value.shape) * scale).astype(value.dtype)
        for name, value in cell.named_weights().items()
    }


def run(cell, xs, **rnn_kwargs):
    layer = keras.layers.RNN(cell, return_sequences=True, return_state=True, **rnn_kwargs)
    outputs = layer(xs)
    return keras.ops.convert_to_numpy(outputs[0]), [
        keras.ops.convert_to_numpy(s) for s in outputs[1:]
    ]


def built_cell(name, units, input_dim, **kwargs):
    cell = get_cell(name, units, **kwargs)
    cell.build((None, input_dim))
    return cell
