"""Training: ``run(config)`` trains a recipe with ``model.fit`` and returns (model, history).

Character language models train with truncated backpropagation through time:
the corpus is cut into ``batch_size`` parallel streams, states are carried from
one ``seq_length`` chunk to the next within an epoch (stateful RNN layers) and
reset at its start; gradients flow only within a chunk. Checkpoints hold the
weights, the optimizer, the carried states and the data position, so a run
killed at any moment resumes where its last checkpoint left it.

Example:
    >>> from seqkit.config import recipe_config
    >>> model, history = run(recipe_config("char_rnn", ["train.max_steps=100"]))
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from seqkit.builders import build_many_to_many
from seqkit.distribute import any_worker

OPTIMIZERS = {
    "adagrad": keras.optimizers.Adagrad,
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
}
LOSS_REDUCTIONS = ("mean", "sum")

# Defaults of a character language model; recipes override only what they change.
CHAR_LM = {
    "name": "char_lm",
    "task": "char_lm",
    "data": {"corpus": "shakespeare", "validation_fraction": 0.05, "max_chars": None},
    "model": {
        "cell": "lstm", "units": 128, "depth": 2, "embedding_dim": None, "dropout": 0.0,
        "connection": None, "init": None, "cell_kwargs": {},
    },
    "train": {
        "batch_size": 50, "seq_length": 50, "epochs": 1, "max_steps": None,
        "time_budget_s": None,
        "optimizer": "rmsprop", "learning_rate": 2e-3, "optimizer_kwargs": {},
        "decay_rate": 1.0, "decay_after_epochs": 0,
        "clipvalue": None, "global_clipnorm": None,
        "loss": "mean",              # "sum": summed over the chunk's steps (min-char-rnn)
        "val_every": 0,              # steps between validations; 0: at each epoch's end
        "val_steps": None,           # validation batches (None: the whole split)
        "checkpoint_every": 500, "sample_every": 500, "sample_length": 200,
        "tensorboard_every": 100,    # steps between batch-level TensorBoard scalars
        "seed": 1234, "run_dir": None, "resume": True, "dtype": "float32",
        "jit_compile": False, "verbose": 1,
        "steps_per_execution": 1,    # training steps per compiled call (Keras' compile arg)
        # tf.distribute (seqkit/distribute.py): "none", "mirrored", "multi_worker", "tpu";
        # batch_size is the global batch unless batch_per_replica.
        "distribute": "none", "devices": None, "batch_per_replica": False,
        "scale_learning_rate": "none",
    },
    "sample": {"prime": "\n", "length": 500, "temperature": 0.8, "top_k": 0, "seed": 0},
}


@keras.saving.register_keras_serializable(package="seqkit")
class EpochDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``lr · rate^max(0, epoch − after + 1)``: char-rnn's decay once ``after`` epochs are done.

    Args:
        learning_rate: Initial learning rate.
        rate: Factor applied per epoch past ``after``.
        after: Number of epochs at the initial rate.
        steps_per_epoch: Optimizer steps in one epoch.
    """

    def __init__(self, learning_rate, rate, after, steps_per_epoch):
        self.learning_rate = float(learning_rate)
        self.rate = float(rate)
        self.after = int(after)
        self.steps_per_epoch = int(steps_per_epoch)

    def __call__(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / self.steps_per_epoch)
        decays = ops.maximum(0.0, epoch - self.after + 1)
        return self.learning_rate * ops.power(self.rate, decays)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "rate": self.rate, "after": self.after,
                "steps_per_epoch": self.steps_per_epoch}


def make_optimizer(train, steps_per_epoch):
    """The optimizer named by ``train["optimizer"]`` with clipping and decay."""
    name = train["optimizer"]
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; valid choices: {sorted(OPTIMIZERS)}.")
    learning_rate = train["learning_rate"]
    if train["decay_rate"] != 1.0:
        learning_rate = EpochDecay(learning_rate, train["decay_rate"],
                                   train["decay_after_epochs"], steps_per_epoch)
    clipping = {k: train[k] for k in ("clipvalue", "global_clipnorm") if train[k]}
    return OPTIMIZERS[name](learning_rate=learning_rate, **clipping,
                            **train["optimizer_kwargs"])


def sequence_loss(reduction):
    """Sparse cross-entropy from logits, averaged per step or summed over the chunk."""
    if reduction not in LOSS_REDUCTIONS:
        raise ValueError(f"Unknown loss {reduction!r}; valid choices: {list(LOSS_REDUCTIONS)}.")

    def summed_over_steps(y_true, logits):
        return ops.sum(keras.losses.sparse_categorical_crossentropy(
            y_true, logits, from_logits=True), axis=-1)

    if reduction == "sum":
        return summed_over_steps
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@keras.saving.register_keras_serializable(package="seqkit")
class BatchLoss(keras.metrics.Metric):
    """The last batches' losses themselves (Keras' ``loss`` log is a running mean).

    Keeps the losses of the last ``length`` steps in ``trace`` (oldest first), so that
    with ``steps_per_execution = length`` every step's loss is still seen; the result
    is the latest one.

    Args:
        reduction: ``"mean"`` (nats per character) or ``"sum"`` (summed over steps).
        scale: Multiplies the result (``1 / ln 2`` gives bits).
        length: Steps kept in ``trace``.

    Example:
        >>> metric = BatchLoss("sum", length=100)   # with steps_per_execution=100
        >>> metric.trace.numpy()[-n:]               # the last n steps' losses
    """

    def __init__(self, reduction="mean", scale=1.0, length=1, name="batch_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"BatchLoss length must be a positive integer, received {length!r}.")
        self.reduction, self.scale, self.length = reduction, float(scale), length
        # "mean": under tf.distribute each replica holds its own rows' loss.
        self.trace = self.add_variable(shape=(length,), initializer="zeros", name="trace",
                                       aggregation="mean")

    def update_state(self, y_true, y_pred, sample_weight=None):
        nats = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        value = ops.mean(ops.sum(nats, -1)) if self.reduction == "sum" else ops.mean(nats)
        value = ops.reshape(ops.cast(value, self.dtype) * self.scale, (1,))
        # A shift register: no index to keep (XLA compiles a scatter into it badly).
        self.trace.assign(ops.concatenate([self.trace[1:], value]) if self.length > 1 else value)

    def result(self):
        return self.trace[-1]

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction, "scale": self.scale,
                "length": self.length}


def _per_char(name, scale):
    def metric(y_true, logits):
        nats = keras.losses.sparse_categorical_crossentropy(y_true, logits, from_logits=True)
        return ops.mean(nats) * scale

    metric.__name__ = name
    return metric


def char_lm_metrics(reduction, steps_per_execution=1):
    return [
        BatchLoss(reduction, length=steps_per_execution),
        _per_char("nats_per_char", 1.0),
        _per_char("bits_per_char", 1.0 / math.log(2.0)),
    ]


def named(dataset):
    """``(x, y)`` batches as the named inputs and outputs of a char-LM model."""
    return dataset.map(lambda x, y: ({"tokens": x}, {"logits": y}))


def write_json_atomic(path, data):
    """Writes JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=float))
    os.replace(tmp, path)


class RunState:
    """What a checkpoint holds beyond weights and optimizer: position and carried states."""

    def __init__(self, model, directory, keep=3, chief=True):
        from seqkit.distribute import carried_variables

        stack = model.get_layer("recurrent")
        self.stack = stack
        self.position = tf.Variable([0, 0], dtype=tf.int64, trainable=False)  # epoch, batch
        self.smooth_loss = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.smooth = 0.0  # the smooth loss as a Python float, updated every step
        self.states = carried_variables(stack)
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=model.optimizer, position=self.position,
            smooth_loss=self.smooth_loss, states=self.states)
        # Multi-worker: every worker restores the chief's checkpoints; only the chief keeps
        # what it saves (the others save into a temporary folder, then delete it).
        self.directory, self.chief, self.latest = Path(directory), chief, None
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=keep) \
            if chief else None

    def restore(self):
        """Restores the latest checkpoint; returns (epoch, batch) or None when there is none."""
        self.latest = tf.train.latest_checkpoint(self.directory)
        if not self.latest:
            return None
        self.checkpoint.restore(self.latest).assert_existing_objects_matched()
        self.smooth = float(self.smooth_loss.numpy())
        return tuple(int(v) for v in self.position.numpy())

    def save(self, epoch, batch, step):
        self.position.assign([epoch, batch])
        self.smooth_loss.assign(self.smooth)
        if self.chief:
            return self.manager.save(checkpoint_number=step)
        from seqkit.distribute import checkpoint_write_dir, remove_tree

        scratch = checkpoint_write_dir(self.directory)  # the same calls as the chief's
        path = tf.train.CheckpointManager(self.checkpoint, scratch, max_to_keep=1).save(
            checkpoint_number=step)
        remove_tree(scratch)
        return path

    def carried_states(self):
        return [variable.numpy() for variable in self.states]

    def set_carried_states(self, values):
        for variable, value in zip(self.states, values):
            variable.assign(value)


def crossed(before, after, every):
    """Whether a multiple of ``every`` lies in ``(before, after]`` (never when ``every`` is 0)."""
    return bool(every) and after // every > before // every


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard for epoch logs, plus batch scalars every ``batch_every`` steps.

    Keras' own batch logging (``update_freq=N``) builds a summary for every log at every
    batch (about 1 ms a step, a third of min-char-rnn's), and drops the epoch logs
    unless an epoch ends on a multiple of N. Batch scalars are stepped by the optimizer's
    iterations, so a resumed run continues its curves.

    Args:
        log_dir: As Keras' ``TensorBoard``.
        batch_every: Steps between batch scalars (``batch_<log>``); 0 or None: none.
        **kwargs: Keras' ``TensorBoard`` arguments except ``update_freq``.
    """

    def __init__(self, log_dir, batch_every=0, **kwargs):
        super().__init__(log_dir=log_dir, update_freq="epoch", **kwargs)
        self.batch_every = batch_every
        self._batch_writer = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.step = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        before, self.step = self.step, int(self.model.optimizer.iterations.numpy())
        if self._should_trace:
            super().on_train_batch_end(batch, logs)
        # One call per execution: steps_per_execution steps (fewer at an epoch's end).
        if not (self.batch_every and logs and crossed(before, self.step, self.batch_every)):
            return
        if self._batch_writer is None:
            self._batch_writer = tf.summary.create_file_writer(
                str(Path(self.log_dir) / "train"))
        with self._batch_writer.as_default(step=self.step):
            for name, value in logs.items():
                tf.summary.scalar(f"batch_{name}", value)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self._batch_writer is not None:
            self._batch_writer.flush()


class TrainingMonitor(keras.callbacks.Callback):
    """Per-step bookkeeping: data position, smooth loss, samples, checkpoints, stopping.

    Args:
        run: The ``CharLMRun`` being trained.
    """

    def __init__(self, run):
        super().__init__()
        self.run = run
        self.stopped = False

    def on_epoch_begin(self, epoch, logs=None):
        self.run.epoch = epoch
        if self.run.batch_in_epoch == 0:
            self.run.state.stack.reset_state()

    def on_train_begin(self, logs=None):
        self.iterations = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        # Called once per execution of steps_per_execution steps (fewer at an epoch's
        # end): the optimizer's iterations count them, BatchLoss.trace holds their losses.
        run, train = self.run, self.run.config["train"]
        before, self.iterations = self.iterations, int(self.model.optimizer.iterations.numpy())
        count = self.iterations - before
        first = run.step
        for loss in run.batch_loss.trace.numpy()[-count:].tolist() if count else []:
            run.batch_in_epoch += 1
            run.step += 1
            run.state.smooth = 0.999 * run.state.smooth + 0.001 * loss
            run.history["step"].append(run.step)
            run.history["loss"].append(loss)
            run.history["nats_per_char"].append(
                loss / train["seq_length"] if train["loss"] == "sum" else loss)
            run.history["smooth_loss"].append(run.state.smooth)
        if crossed(first, run.step, train["sample_every"]):
            run.print_sample()
        if crossed(first, run.step, train["val_every"]):
            run.validate()
        if crossed(first, run.step, train["checkpoint_every"]):
            run.save_checkpoint()
        budget = train["time_budget_s"]
        if (train["max_steps"] and run.step >= train["max_steps"]) or (
                budget and any_worker(time.time() - run.started > budget)):
            self.stopped = self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.run.batch_in_epoch >= self.run.steps_per_epoch:
            self.run.batch_in_epoch = 0
            self.run.epoch = epoch + 1
            if not self.run.config["train"]["val_every"]:
                self.run.validate()


class CharLMRun:
    """One character-LM training run: data, model, checkpoints and logs in ``run_dir``."""

    def __init__(self, config):
        from seqkit.data import CharVocab, load_text, steps_per_epoch
        from seqkit.distribute import build_stream_model, worker_role, worker_run_dir

        self.config = config
        data, model_cfg, train = config["data"], config["model"], config["train"]
        keras.utils.set_random_seed(train["seed"])
        # Under a tf.distribute strategy (built and compiled in its scope by run()).
        self.strategy, self.distributed = tf.distribute.get_strategy(), tf.distribute.has_strategy()
        chief_dir = Path(train["run_dir"] or Path("runs") / config["name"])
        self.run_dir = worker_run_dir(chief_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        text_args = dict(validation_fraction=data["validation_fraction"],
                         max_chars=data["max_chars"])
        train_text = load_text(data["corpus"], split="train", **text_args)
        val_text = load_text(data["corpus"], split="validation", **text_args)
        vocab_path = self.run_dir / "vocab.json"
        self.vocab = CharVocab.load(vocab_path) if vocab_path.exists() and train["resume"] \
            else CharVocab.from_text(train_text)
        self.vocab.save(vocab_path)
        self.train_ids = self.vocab.encode(train_text)
        self.val_ids = self.vocab.encode(val_text)
        batch, seq = train["batch_size"], train["seq_length"]
        self.steps_per_epoch = steps_per_epoch(len(self.train_ids), batch, seq)
        if self.distributed:  # carried states split by stream across replicas
            self.model = build_stream_model(model_cfg, self.vocab.size, batch, seq,
                                            config["name"])
        else:
            self.model = build_many_to_many(
                model_cfg["cell"], model_cfg["units"], self.vocab.size,
                depth=model_cfg["depth"], embedding_dim=model_cfg["embedding_dim"],
                dropout=model_cfg["dropout"], connection=model_cfg["connection"],
                batch_size=batch, seq_length=seq, stateful=True, init=model_cfg["init"],
                cell_kwargs=model_cfg["cell_kwargs"], compile=False, name=config["name"])
        per_call = train["steps_per_execution"]
        if not isinstance(per_call, int) or isinstance(per_call, bool) or per_call < 1:
            raise ValueError(f"train.steps_per_execution must be a positive integer, received "
                             f"{per_call!r}.")
        metrics = char_lm_metrics(train["loss"], per_call)
        self.batch_loss = metrics[0]
        self.model.compile(
            optimizer=make_optimizer(train, self.steps_per_epoch),
            loss={"logits": sequence_loss(train["loss"])},
            metrics={"logits": metrics},
            jit_compile=train["jit_compile"], steps_per_execution=per_call)
        self.model.optimizer.build(self.model.trainable_variables)
        self.state = RunState(self.model, chief_dir / "checkpoints", chief=worker_role()[2])
        self.step = self.epoch = self.batch_in_epoch = 0
        self.callbacks = []  # extra Keras callbacks for fit()
        self.history = {"step": [], "loss": [], "nats_per_char": [], "smooth_loss": [],
                        "val_step": [], "val_nats_per_char": [], "val_time_s": []}
        self.started = time.time()

    # ------------------------------------------------------------------------
    def sampler(self):
        from seqkit.generate import Sampler

        if not hasattr(self, "_sampler"):
            self._sampler = Sampler(self.model, self.vocab)
        return self._sampler

    def print_sample(self):
        sample = self.config["sample"]
        text = self.sampler().sample(sample["prime"], self.config["train"]["sample_length"],
                                     sample["temperature"], sample["top_k"], seed=self.step)
        print(f"\niter {self.step}, smooth loss: {self.state.smooth:.4f}\n----\n{text}\n----",
              flush=True)

    def initial_loss_check(self):
        """exp(initial loss) should be about the vocabulary size for an untrained model."""
        from seqkit.data import stream_batches

        train = self.config["train"]
        x, y = next(iter(stream_batches(self.train_ids, train["batch_size"],
                                        train["seq_length"])))
        logits = self.model({"tokens": x}, training=False)["logits"]
        self.state.stack.reset_state()
        nats = float(ops.mean(keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True)))
        ok = 0.5 < math.exp(nats) / self.vocab.size < 2.0
        print(f"initial loss {nats:.4f} nats/char: exp(loss) = {math.exp(nats):.1f} vs "
              f"vocabulary size {self.vocab.size} ({'ok' if ok else 'CHECK THE MODEL'})")
        if self.step == 0:
            self.state.smooth = -math.log(1.0 / self.vocab.size) * (
                train["seq_length"] if train["loss"] == "sum" else 1)
        return nats

    def validate(self):
        """Validation nats/char on the held-out split, with the training states put back."""
        from seqkit.data import steps_per_epoch

        train = self.config["train"]
        if steps_per_epoch(len(self.val_ids), train["batch_size"], train["seq_length"]) == 0:
            print(f"validation skipped: {len(self.val_ids)} held-out characters are fewer than "
                  f"one batch ({train['batch_size']} x {train['seq_length']})")
            return None
        carried = self.state.carried_states()
        self.state.stack.reset_state()
        data, steps = self.stream_data(self.val_ids, take=train["val_steps"])
        logs = self.model.evaluate(data, steps=steps, verbose=0, return_dict=True)
        self.state.set_carried_states(carried)
        nats = float(logs["nats_per_char"])
        self.history["val_step"].append(self.step)
        self.history["val_nats_per_char"].append(nats)
        self.history["val_time_s"].append(time.time() - self.started)
        print(f"\nstep {self.step}: validation {nats:.4f} nats/char, "
              f"{nats / math.log(2):.4f} bits/char", flush=True)
        return nats

    def stream_data(self, ids, start_step=0, take=None, repeat=False):
        """``(dataset, steps)``: truncated-BPTT batches of ``ids`` for fit/evaluate. Under a
        strategy they are distributed by streams (``seqkit.distribute.stream_dataset``) and
        ``steps`` (one pass) is given to Keras, which cannot count them; else ``None``."""
        from seqkit.data import steps_per_epoch, stream_batches
        from seqkit.distribute import stream_dataset

        batch, seq = self.config["train"]["batch_size"], self.config["train"]["seq_length"]
        if self.distributed:
            steps = steps_per_epoch(len(ids), batch, seq) - start_step
            steps = min(steps, take) if take else steps
            return stream_dataset(self.strategy, ids, batch, seq, start_step=start_step,
                                  take=take, repeat=repeat), steps
        data = named(stream_batches(ids, batch, seq, start_step=start_step))
        return (data.take(take) if take else data), None

    def save_checkpoint(self):
        # History first: a run killed between the two writes still has every step up to
        # the checkpoint (resume drops the entries past it).
        write_json_atomic(self.run_dir / "history.json", self.history)
        return self.state.save(self.epoch, self.batch_in_epoch, self.step)

    def resume(self):
        if not self.config["train"]["resume"]:
            return False
        position = self.state.restore()
        if position is None:
            return False
        self.epoch, self.batch_in_epoch = position
        self.step = int(self.model.optimizer.iterations.numpy())
        history_path = self.run_dir / "history.json"
        if history_path.exists():
            history = json.loads(history_path.read_text())
            keep = [i for i, s in enumerate(history["step"]) if s <= self.step]
            for key in ("step", "loss", "nats_per_char", "smooth_loss"):
                self.history[key] = [history[key][i] for i in keep]
            val = [i for i, s in enumerate(history["val_step"]) if s <= self.step]
            for key in ("val_step", "val_nats_per_char", "val_time_s"):
                self.history[key] = [history[key][i] for i in val]
        print(f"resumed from {self.state.latest}: epoch {self.epoch + 1}, "
              f"batch {self.batch_in_epoch} of {self.steps_per_epoch}, step {self.step}")
        return True

    # ------------------------------------------------------------------------
    def fit(self):
        train = self.config["train"]
        if not self.resume():
            self.initial_loss_check()
        monitor = TrainingMonitor(self)
        callbacks = [monitor, TensorBoard(log_dir=str(self.run_dir / "tensorboard"),
                                          batch_every=train["tensorboard_every"]),
                     *self.callbacks]
        self.started = time.time()
        start_step = self.step
        batch, seq = train["batch_size"], train["seq_length"]
        while self.epoch < train["epochs"] and not monitor.stopped:
            # A resumed partial epoch runs alone; then whole epochs in one fit call; the
            # epoch where max_steps falls runs alone, cut there (steps_per_execution
            # steps at a time would otherwise overshoot it).
            last = self.epoch + 1 if self.batch_in_epoch else train["epochs"]
            take, left = None, self.steps_per_epoch - self.batch_in_epoch
            if train["max_steps"]:
                remaining = train["max_steps"] - self.step
                if remaining <= 0:
                    break
                if remaining <= left:
                    take, last = remaining, self.epoch + 1
                elif not self.batch_in_epoch:
                    last = min(last, self.epoch + remaining // self.steps_per_epoch)
            data, steps = self.stream_data(self.train_ids, start_step=self.batch_in_epoch,
                                           take=take, repeat=True)
            self.model.fit(data, initial_epoch=self.epoch, epochs=last, callbacks=callbacks,
                           verbose=train["verbose"], shuffle=False, steps_per_epoch=steps)
        elapsed = time.time() - self.started
        if not self.history["val_step"] or self.history["val_step"][-1] != self.step:
            self.validate()
        self.save_checkpoint()
        chars = (self.step - start_step) * batch * seq
        metrics = {
            "steps": self.step, "epochs_done": self.epoch, "wall_time_s": elapsed,
            "chars_per_s": chars / elapsed if elapsed > 0 else None,
            "train_nats_per_char": float(np.mean(self.history["nats_per_char"][-100:]))
            if self.history["nats_per_char"] else None,
            "val_nats_per_char": self.history["val_nats_per_char"][-1]
            if self.history["val_nats_per_char"] else None,
            "vocab_size": self.vocab.size,
        }
        return metrics

    def finish(self, metrics):
        """Saves a stateless model, config, metrics, a final sample and the loss curve."""
        from seqkit.config import save_config

        model_cfg = self.config["model"]
        stateless = build_many_to_many(
            model_cfg["cell"], model_cfg["units"], self.vocab.size, depth=model_cfg["depth"],
            embedding_dim=model_cfg["embedding_dim"], dropout=model_cfg["dropout"],
            connection=model_cfg["connection"], init=model_cfg["init"],
            cell_kwargs=model_cfg["cell_kwargs"], compile=False, name=self.config["name"])
        stateless.set_weights(self.model.get_weights())
        stateless.save(self.run_dir / "model.keras")
        save_config(self.config, self.run_dir / "config.json")
        sample = self.config["sample"]
        text = self.sampler().sample(sample["prime"], sample["length"], sample["temperature"],
                                     sample["top_k"], sample["seed"])
        (self.run_dir / "sample.txt").write_text(sample["prime"] + text)
        metrics["sample"] = sample["prime"] + text
        write_json_atomic(self.run_dir / "metrics.json", metrics)
        write_json_atomic(self.run_dir / "history.json", self.history)
        plot_history(self.history, self.run_dir / "loss.png", title=self.config["name"])
        return stateless


def plot_history(history, path, title=""):
    """Training (and validation) nats/char against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps, nats = history["step"], history["nats_per_char"]
    if steps:
        window = max(1, len(nats) // 200)
        smooth = np.convolve(nats, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, label="train")
    if history["val_step"]:
        ax.plot(history["val_step"], history["val_nats_per_char"], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("nats / character")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# Defaults of the supervised tasks (seqkit/tasks/); recipes override what they change.
SUPERVISED = {
    "name": "supervised",
    "task": "classify",
    "data": {},
    "model": {
        "cell": "lstm", "units": 64, "depth": 1, "embedding_dim": 64, "dropout": 0.0,
        "connection": None, "init": None, "cell_kwargs": {},
        "conditioning": "input",     # caption: the image enters every step, or initial_state
        "attention": None,           # translate: None, "luong" or "bahdanau"
    },
    "train": {
        "batch_size": 64, "epochs": 5, "time_budget_s": None,
        "optimizer": "adam", "learning_rate": 2e-3, "optimizer_kwargs": {},
        "decay_rate": 1.0, "decay_after_epochs": 0, "clipvalue": None, "global_clipnorm": 5.0,
        "seed": 1234, "run_dir": None, "resume": True, "jit_compile": False, "verbose": 1,
        "dtype": "float32",
        "distribute": "none", "devices": None, "batch_per_replica": False,
        "scale_learning_rate": "none",
    },
    "eval": {},
}


class TimeBudget(keras.callbacks.Callback):
    """Stops training once ``seconds`` of wall time have passed (checked every batch)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.started = seconds, time.time()

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds and any_worker(time.time() - self.started > self.seconds):
            self.model.stop_training = True


class SupervisedRun:
    """Trains a task of ``seqkit/tasks/`` with ``model.fit`` and evaluates it on its test split.

    Interrupted runs resume from the last finished epoch (Keras ``BackupAndRestore``).
    """

    def __init__(self, config):
        import importlib

        self.config, train = config, config["train"]
        keras.utils.set_random_seed(train["seed"])
        self.task = importlib.import_module(f"seqkit.tasks.{config['task']}")
        from seqkit.distribute import shard_by_data, worker_run_dir

        self.run_dir = worker_run_dir(Path(train["run_dir"] or Path("runs") / config["name"]))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.prepared = self.task.prepare(config)
        self.distributed = tf.distribute.has_strategy()
        if self.distributed:  # each worker takes its slice of every global batch
            for split in ("train", "validation"):
                self.prepared[split] = shard_by_data(self.prepared[split])
        self.model = self.prepared["model"]
        output = next(iter(self.model.output))
        # Epoch decay needs the batches per epoch; count them only then (one pass).
        steps = sum(1 for _ in self.prepared["train"]) if train["decay_rate"] != 1.0 else 1
        metrics = self.prepared.get("metrics")
        self.model.compile(optimizer=make_optimizer(train, steps),
                           loss={output: self.prepared["loss"]},
                           metrics={output: metrics} if metrics else None,
                           jit_compile=train["jit_compile"])
        self.history = {}

    def fit(self):
        train = self.config["train"]
        callbacks = [TimeBudget(train["time_budget_s"]), TensorBoard(
            log_dir=str(self.run_dir / "tensorboard"))]
        if train["resume"]:
            callbacks.append(keras.callbacks.BackupAndRestore(str(self.run_dir / "backup")))
        started = time.time()
        history = self.model.fit(self.prepared["train"], validation_data=self.prepared[
            "validation"], epochs=train["epochs"], callbacks=callbacks,
            verbose=train["verbose"])
        self.history = {k: [float(v) for v in values] for k, values in history.history.items()}
        return {"wall_time_s": time.time() - started, "epochs": len(history.epoch)}

    def finish(self, metrics):
        from seqkit.config import save_config

        if self.distributed:  # evaluate, decode and save a copy outside the strategy
            from seqkit.distribute import local_copy

            self.model = local_copy(self.model)
        print("evaluating on the held-out test split ...", flush=True)
        metrics.update(self.task.evaluate(self.config, self.model, self.prepared))
        self.model.save(self.run_dir / "model.keras")
        save_config(self.config, self.run_dir / "config.json")
        self.task.save_artifacts(self.prepared, self.run_dir)
        write_json_atomic(self.run_dir / "metrics.json", metrics)
        write_json_atomic(self.run_dir / "history.json", self.history)
        plot_epochs(self.history, self.run_dir / "curves.png", self.config["name"])
        return self.model


def plot_epochs(history, path, title=""):
    """Every metric of a Keras history against epoch (training and validation), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(k for k in history if not k.startswith("val_"))
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4 * max(1, len(names)), 3.2))
    for ax, name in zip(np.atleast_1d(axes), names):
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], "o-", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], "o-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


TASKS = {"char_lm": CharLMRun, "classify": SupervisedRun, "caption": SupervisedRun,
         "translate": SupervisedRun, "repeated_ones": "seqkit.tasks.repeated_ones:RepeatedOnesRun",
         "arithmetic": SupervisedRun, "xml_modelling": SupervisedRun, "music": SupervisedRun}


def _runner(task):
    runner = TASKS[task]
    if isinstance(runner, str):
        import importlib

        module, name = runner.split(":")
        runner = getattr(importlib.import_module(module), name)
    return runner


def run(config):
    """Trains ``config`` (a recipe config) and returns ``(model, result)``.

    ``model`` is the trained stateless Keras model (saved as ``run_dir/model.keras``);
    ``result`` holds ``history`` (per-step losses, validation), ``metrics`` and
    ``run_dir``.
    """
    task = config.get("task")
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; valid tasks: {sorted(TASKS)}.")
    from seqkit.distribute import distributed_config, strategy_for_config

    strategy = strategy_for_config(config["train"])  # first: before TF initialises devices
    config = distributed_config(config, strategy)
    with precision(config["train"]["dtype"]):
        with strategy.scope():  # models are built, compiled and trained in the scope
            runner = _runner(task)(config)
            metrics = runner.fit()
        model = runner.finish(metrics)
    return model, {"history": runner.history, "metrics": metrics, "run_dir": runner.run_dir}


@contextlib.contextmanager
def precision(dtype):
    """Builds and trains in ``dtype`` ("float32", "float64" or "mixed_float16"), then
    restores Keras' previous floatx and global dtype policy."""
    previous_floatx, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    if dtype != "mixed_float16":
        keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous_floatx)
        keras.config.set_dtype_policy(previous_policy)
