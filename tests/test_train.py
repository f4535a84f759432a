import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkit.config import recipe_config
from seqkit.data import load_text
from seqkit.train import CharLMRun, precision, run


def gist_step(params, mems, hprev, inputs, targets, lr=0.1):
    """One iteration of Karpathy's min-char-rnn gist, transcribed to NumPy (float64):
    forward, backward, elementwise clip to [-5, 5], Adagrad. Updates params and mems
    in place; returns (loss, hprev)."""
    Wxh, Whh, Why, bh, by = params
    vocab_size = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    for dparam in [dWxh, dWhh, dWhy, dbh, dby]:
        np.clip(dparam, -5, 5, out=dparam)
    for param, dparam, mem in zip(params, [dWxh, dWhh, dWhy, dbh, dby], mems):
        mem += dparam * dparam
        param += -lr * dparam / np.sqrt(mem + 1e-8)
    return loss, hs[len(inputs) - 1]


def gist_params(weights):
    """seqkit's (W_xh, W_hh, b_h, Dense kernel, Dense bias) in the gist's layout."""
    w_xh, w_hh, b_h, w_hy, b_y = weights
    return [w_xh.T.copy(), w_hh.T.copy(), w_hy.T.copy(), b_h.reshape(-1, 1).copy(),
            b_y.reshape(-1, 1).copy()]


def gist_losses(data, params, iterations, seq_length=25):
    """The gist's main loop: losses of ``iterations`` iterations from ``params``."""
    params = [p.copy() for p in params]
    mems = [np.zeros_like(p) for p in params]
    n, p, losses = 0, 0, []
    while n < iterations:
        if p + seq_length + 1 >= len(data) or n == 0:
            hprev = np.zeros((params[1].shape[0], 1))
            p = 0
        loss, hprev = gist_step(params, mems, hprev, data[p:p + seq_length],
                                data[p + 1:p + seq_length + 1])
        losses.append(loss)
        p += seq_length
        n += 1
    return np.array(losses)


class CaptureIterations(keras.callbacks.Callback):
    """Records weights, Adagrad accumulators and the carried state before every batch."""

    def __init__(self, runner):
        super().__init__()
        self.runner, self.before = runner, []

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        rnn = self.runner.state.stack.rnns[0]
        self.before.append((
            [w.copy() for w in self.model.get_weights()],
            [a.numpy().copy() for a in optimizer._accumulators],
            rnn.states[0].numpy().copy(),
        ))


def test_min_char_rnn_is_the_gist(tmp_path):
    """seqkit's min_char_rnn recipe runs the gist's algorithm, checked two ways in float64:

    1. every one of 320 iterations (two passes over the data, with the state reset at
       each wrap) is the gist's iteration: from seqkit's weights, accumulators and carried
       state at that iteration, the gist's code gives the same loss (rel. < 1e-6) and
       the same updated weights and accumulators;
    2. the whole trajectory from the same initial weights matches the gist's own loop as
       long as float64 round-off allows: after ~100 iterations Adagrad's sign-like steps
       have made the tanh RNN chaotic, so even the gist run twice with its weights changed
       by round-off (1e-15 relative) drifts apart; the horizon is measured in the test,
       not assumed.
    """
    corpus = tmp_path / "corpus.txt"
    source = load_text("python_stdlib", max_chars=4000)
    size = 3000
    while True:  # the gist never uses the last character as a target: match its epoch length
        corpus.write_text(source[:size])
        train_text = load_text(str(corpus), split="train")
        if (len(train_text) - 1) % 25:
            break
        size += 1
    config = recipe_config("min_char_rnn", [
        f"data.corpus={corpus}", "train.dtype=float64", "train.epochs=10",
        "train.max_steps=320", "train.checkpoint_every=0", "train.sample_every=100",
        "train.steps_per_execution=1",  # the capture reads the state before every step
        f"train.run_dir={tmp_path / 'run'}", "train.resume=False"])
    with precision("float64"):
        runner = CharLMRun(config)
        capture = CaptureIterations(runner)
        runner.callbacks.append(capture)
        runner.fit()
    assert runner.model.get_layer("logits").kernel.dtype == "float64"
    ours = np.array(runner.history["loss"])
    data = list(runner.vocab.encode(train_text))
    assert len(ours) == 320 and 2 * runner.steps_per_epoch < 320  # the data wrapped twice

    # 1. Every iteration is the gist's iteration.
    for n in range(319):
        weights, accumulators, state = capture.before[n]
        params = gist_params(weights)
        mems = gist_params(accumulators)
        position = (n % runner.steps_per_epoch) * 25
        loss, hprev = gist_step(params, mems, state.reshape(-1, 1),
                                data[position:position + 25], data[position + 1:position + 26])
        assert abs(loss - ours[n]) <= 1e-6 * loss, n
        next_weights, next_accumulators, next_state = capture.before[n + 1]
        for mine, theirs in zip(gist_params(next_weights), params):
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
        for mine, theirs in zip(gist_params(next_accumulators), mems):
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-15)
        if (n + 1) % runner.steps_per_epoch:
            np.testing.assert_allclose(next_state.reshape(-1, 1), hprev, rtol=1e-9,
                                       atol=1e-12)
        else:
            assert not next_state.any()  # reset when the data wraps

    # 2. The trajectory, to the horizon float64 allows.
    initial = gist_params(capture.before[0][0])
    expected = gist_losses(data, initial, 320)
    rng = np.random.default_rng(0)
    nudged = [p * (1 + 1e-15 * rng.standard_normal(p.shape)) for p in initial]
    drift = np.abs(gist_losses(data, nudged, 320) / expected - 1)
    horizon = int(np.argmax(drift > 1e-7)) if (drift > 1e-7).any() else 320
    print(f"float64 horizon of the gist itself: {horizon} iterations")
    assert horizon >= 20
    np.testing.assert_allclose(ours[:horizon], expected[:horizon], rtol=1e-6)
    assert ours[-20:].mean() < 0.8 * ours[:5].mean()


def test_steps_per_execution_keeps_every_step(tmp_path):
    """min_char_rnn runs 100 steps per compiled call: the same per-step losses as one
    step per call, every step in the history, and max_steps met exactly although it is
    no multiple of 100 and epochs (127 steps) end inside executions."""
    histories = {}
    for per_call in (1, 100):
        config = recipe_config("min_char_rnn", [
            "data.corpus=python_stdlib", "data.max_chars=3200", "train.dtype=float64",
            "train.epochs=5", "train.max_steps=250", "train.checkpoint_every=120",
            "train.sample_every=0", "train.val_steps=5", f"train.steps_per_execution={per_call}",
            f"train.run_dir={tmp_path / str(per_call)}", "train.resume=False"])
        with precision("float64"):
            runner = CharLMRun(config)
            runner.fit()
        assert int(runner.model.optimizer.iterations.numpy()) == 250
        assert 100 < runner.steps_per_epoch < 250 and runner.steps_per_epoch % 100
        histories[per_call] = runner.history
    assert histories[100]["step"] == list(range(1, 251))
    np.testing.assert_allclose(histories[100]["loss"], histories[1]["loss"], rtol=1e-9)
    np.testing.assert_allclose(histories[100]["smooth_loss"], histories[1]["smooth_loss"],
                               rtol=1e-9)
    np.testing.assert_allclose(histories[100]["val_nats_per_char"],
                               histories[1]["val_nats_per_char"], rtol=1e-9)


def test_steps_per_execution_must_be_a_positive_integer(tmp_path):
    config = recipe_config("min_char_rnn", ["data.corpus=python_stdlib", "data.max_chars=3000",
                                            "train.steps_per_execution=0",
                                            f"train.run_dir={tmp_path}"])
    with pytest.raises(ValueError, match="steps_per_execution must be a positive integer, "
                                         "received 0"):
        CharLMRun(config)


def _train_command(run_dir, steps):
    return [sys.executable, "-m", "seqkit.cli", "train", "char_rnn",
            "--set", "data.corpus=linux", "--set", "data.max_chars=40000",
            "--set", "model.units=32", "--set", "train.batch_size=8",
            "--set", "train.seq_length=20", "--set", f"train.max_steps={steps}",
            "--set", "train.checkpoint_every=10", "--set", "train.sample_every=0",
            "--set", "train.val_steps=3", "--set", "train.verbose=0",
            "--set", f"train.run_dir={run_dir}"]


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    reference = subprocess.run(_train_command(tmp_path / "whole", 60), env=env,
                               capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]

    killed_dir = tmp_path / "killed"
    process = subprocess.Popen(_train_command(killed_dir, 60), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        index = killed_dir / "checkpoints" / "checkpoint"
        if index.exists() and "ckpt-30" in index.read_text():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    state = (killed_dir / "checkpoints" / "checkpoint").read_text()
    assert "ckpt-60" not in state, "the run finished before it could be killed"

    resumed = subprocess.run(_train_command(killed_dir, 60), env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout
    whole = json.loads((tmp_path / "whole" / "history.json").read_text())
    again = json.loads((killed_dir / "history.json").read_text())
    assert again["step"] == list(range(1, 61))
    np.testing.assert_allclose(again["loss"], whole["loss"], rtol=1e-5)
    np.testing.assert_allclose(again["val_nats_per_char"][-1], whole["val_nats_per_char"][-1],
                               rtol=1e-5)


def test_char_rnn_trains_any_cell_and_writes_its_run(tmp_path):
    config = recipe_config("char_rnn", [
        "data.corpus=linux", "data.max_chars=30000", "model.cell=mut1", "model.units=32",
        "model.embedding_dim=16", "train.batch_size=8", "train.seq_length=20",
        "train.max_steps=150", "train.sample_every=75", "train.checkpoint_every=0",
        "train.val_steps=3", "train.verbose=0", "train.optimizer=adam", "train.optimizer_kwargs={}",
        "train.learning_rate=0.01", f"train.run_dir={tmp_path}"])
    model, result = run(config)
    losses = result["history"]["nats_per_char"]
    assert np.mean(losses[-10:]) < 0.85 * np.mean(losses[:3])
    for name in ("model.keras", "vocab.json", "config.json", "metrics.json", "loss.png",
                 "sample.txt"):
        assert (Path(tmp_path) / name).exists(), name
    events = list((Path(tmp_path) / "tensorboard").rglob("events.out.tfevents.*"))
    written = {(value.tag, event.step) for path in events
               for event in tf.compat.v1.train.summary_iterator(str(path))
               for value in event.summary.value}
    assert ("batch_loss", 100) in written  # train.tensorboard_every = 100
    assert ("epoch_loss", 0) in written
    assert result["metrics"]["val_nats_per_char"] is not None
    assert model.get_layer("recurrent").cell == "mut1"


@pytest.mark.parametrize("override, match", [
    ("train.optimizer=adamax", "Unknown optimizer 'adamax'"),
    ("train.loss=median", "Unknown loss 'median'"),
    ("model.cell=lstn", "Unknown cell name 'lstn'"),
])
def test_bad_config_values(override, match, tmp_path):
    config = recipe_config("char_rnn", ["data.corpus=linux", "data.max_chars=5000",
                                        f"train.run_dir={tmp_path}", override])
    with pytest.raises(ValueError, match=match):
        run(config)
