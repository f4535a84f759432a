"""Lecture 7's repeated-ones detector (many-to-many): ``y_t = 1`` exactly when
``x_t = x_{t-1} = 1``.

First the hand-set ReLU RNN of the lecture (``h = (current, previous, 1)``,
``h_0 = (0, 0, 1)``, ``y_t = ReLU(h_t W_hy)`` with ``W_hy = [1, 1, −1]``) gives exact
answers; then the same architecture, from random weights, is trained until it gives
the same answers on held-out random bit strings ("how do we find the Ws in practice?").
"""

import time
from pathlib import Path

import keras
import numpy as np

from seqkit.cells import get_cell

HAND_SET = {
    "W_xh": np.array([[1.0, 0.0, 0.0]]),
    "W_hh": np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),  # h @ W_hh
    "b_h": np.zeros(3),
    "W_hy": np.array([[1.0], [1.0], [-1.0]]),
}
H0 = np.array([0.0, 0.0, 1.0])


@keras.saving.register_keras_serializable(package="seqkit")
class ConstantState(keras.layers.Layer):
    """A fixed initial state ``h_0``, repeated over the batch of its input."""

    def __init__(self, value, **kwargs):
        super().__init__(**kwargs)
        self.value = [float(v) for v in value]

    def call(self, inputs):
        batch = keras.ops.shape(inputs)[0]
        return keras.ops.tile(keras.ops.convert_to_tensor([self.value], self.compute_dtype),
                              (batch, 1))

    def get_config(self):
        return {**super().get_config(), "value": self.value}


def detector(cell="vanilla", units=3, cell_kwargs=None):
    """``bits (batch, T, 1) -> y (batch, T, 1)``: an RNN from ``h_0 = (0, 0, 1, 0...)`` and a
    ReLU readout; the lecture's is ``detector("vanilla", 3, {"activation": "relu"})``."""
    bits = keras.Input((None, 1), name="bits")
    kwargs = cell_kwargs if cell_kwargs is not None else {"activation": "relu"}
    h0 = ConstantState(list(H0) + [0.0] * (units - 3), name="h0")(bits)
    rnn_cell = get_cell(cell, units, **kwargs)
    h = keras.layers.RNN(rnn_cell, return_sequences=True, name="rnn")(
        bits, initial_state=[h0] * len(rnn_cell.state_size))
    y = keras.layers.Dense(1, activation="relu", use_bias=False, name="W_hy")(h)
    return keras.Model({"bits": bits}, {"y": y}, name="repeated_ones")


def bit_strings(count, length, seed):
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(count, length, 1)).astype("float32")
    previous = np.concatenate([np.zeros((count, 1, 1), "float32"), bits[:, :-1]], axis=1)
    return bits, bits * previous


def exact(model, bits, targets):
    """Fraction of strings whose every output, rounded, is the right answer."""
    y = model.predict({"bits": bits}, verbose=0)["y"]
    return float(np.mean(np.all(np.round(y) == targets, axis=(1, 2))))


class RepeatedOnesRun:
    """The recipe's run: hand-set weights, then training from random weights."""

    def __init__(self, config):
        self.config = config
        self.run_dir = Path(config["train"]["run_dir"] or Path("runs") / config["name"])
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.history = {"attempt_loss": []}

    def fit(self):
        d, m, train = self.config["data"], self.config["model"], self.config["train"]
        test_bits, test_targets = bit_strings(d["test_strings"], d["length"], seed=99)
        hand = detector()
        hand.get_layer("rnn").cell.assign_named_weights(
            {k: v for k, v in HAND_SET.items() if k != "W_hy"})
        hand.get_layer("W_hy").set_weights([HAND_SET["W_hy"]])
        metrics = {"hand_set_exact": exact(hand, test_bits, test_targets)}
        print(f"hand-set ReLU RNN: {metrics['hand_set_exact']:.0%} of "
              f"{len(test_bits)} held-out strings exactly right")
        bits, targets = bit_strings(d["train_strings"], d["length"], seed=train["seed"])
        started = time.time()
        for attempt in range(1, train["restarts"] + 1):
            keras.utils.set_random_seed(train["seed"] + attempt)
            model = detector(m["cell"], m["units"], m["cell_kwargs"])
            model.compile(keras.optimizers.Adam(train["learning_rate"]), {"y": "mse"})
            history = model.fit({"bits": bits}, {"y": targets}, epochs=train["epochs"],
                                batch_size=train["batch_size"], verbose=train["verbose"])
            self.history["attempt_loss"].append(history.history["loss"])
            learned = exact(model, test_bits, test_targets)
            print(f"attempt {attempt}: {learned:.0%} of held-out strings exactly right, "
                  f"final loss {history.history['loss'][-1]:.2e}")
            if learned == 1.0:
                break
        self.model = model
        metrics.update({"learned_exact": learned, "attempts": attempt,
                        "wall_time_s": time.time() - started})
        self._show_weights(hand, model)
        return metrics

    def _show_weights(self, hand, model):
        learned = model.get_layer("rnn").cell.named_weights()
        learned["W_hy"] = model.get_layer("W_hy").get_weights()[0]
        for name in ("W_xh", "W_hh", "b_h", "W_hy"):
            print(f"{name}  hand-set:\n{np.array(HAND_SET[name]).round(2)}\n"
                  f"{name}  learned:\n{np.array(learned[name]).round(2)}")
        self.learned = {k: np.asarray(v).tolist() for k, v in learned.items()}

    def finish(self, metrics):
        from seqkit.config import save_config
        from seqkit.train import write_json_atomic

        metrics["learned_weights"] = self.learned
        metrics["hand_set_weights"] = {k: np.asarray(v).tolist() for k, v in HAND_SET.items()}
        self.model.save(self.run_dir / "model.keras")
        save_config(self.config, self.run_dir / "config.json")
        write_json_atomic(self.run_dir / "metrics.json", metrics)
        return self.model
