"""1 vs 2 workers (``MultiWorkerMirroredStrategy`` on loopback) for the char LM and the
seq2seq translator: throughput and final loss, same global batch.

On one 2-core machine two workers cannot be faster than one (they share the cores and
add an all-reduce per step); the point is that the losses agree and what the overhead is.

    python -m benchmarks.distributed            # writes benchmarks/results/distributed.json
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import write_result
from seqkit.distribute import launch_train

CHAR_LM = ["data.corpus=shakespeare", "data.max_chars=200000", "model.units=64",
           "train.batch_size=32", "train.seq_length=50", "train.max_steps=150",
           "train.checkpoint_every=0", "train.sample_every=0", "train.val_steps=5",
           "train.verbose=0", "train.resume=False"]
TRANSLATE = ["model.units=32", "model.embedding_dim=32", "data.max_tokens=5",
             "train.batch_size=64", "train.epochs=1", "train.verbose=0", "train.resume=False",
             "eval.examples=50", "eval.beam_width=2"]


def _run(recipe, overrides, workers, run_dir):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    overrides = [*overrides, f"train.run_dir={run_dir}"]
    started = time.time()
    if workers == 1:
        command = [sys.executable, "-m", "seqkit.cli", "train", recipe]
        for item in overrides:
            command += ["--set", item]
        code = subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        code = launch_train(recipe, overrides, workers=workers, timeout=900)
    wall = time.time() - started
    if code:
        return {"workers": workers, "error": f"exit code {code}"}
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    history = json.loads((Path(run_dir) / "history.json").read_text())
    return {"workers": workers, "metrics": metrics, "history": history, "process_wall_s": wall}


def char_lm(workers, root):
    result = _run("char_rnn", CHAR_LM, workers, root / f"char_rnn_{workers}")
    if "error" in result:
        return result
    m, h = result["metrics"], result["history"]
    return {"workers": workers, "steps": m["steps"], "training_wall_s": m["wall_time_s"],
            "chars_per_s": m["chars_per_s"], "final_train_nats_per_char": h["loss"][-1],
            "mean_last_10_nats_per_char": sum(h["loss"][-10:]) / 10,
            "val_nats_per_char": m["val_nats_per_char"],
            "process_wall_s": result["process_wall_s"]}


def translate(workers, root):
    from seqkit.data.translation import load_translation_pairs

    result = _run("translate", TRANSLATE, workers, root / f"translate_{workers}")
    if "error" in result:
        return result
    m, h = result["metrics"], result["history"]
    examples = len(load_translation_pairs("fr", max_tokens=5, seed=0).train[0])
    return {"workers": workers, "train_examples": examples, "epochs": m["epochs"],
            "training_wall_s": m["wall_time_s"],
            "examples_per_s": examples * m["epochs"] / m["wall_time_s"],
            "final_train_loss": h["loss"][-1], "final_val_loss": h["val_loss"][-1],
            "greedy_bleu": m.get("greedy_bleu"), "process_wall_s": result["process_wall_s"]}


def main():
    root = Path(tempfile.mkdtemp(prefix="seqkit_bench_distributed_"))
    rows = {"char_rnn": [], "translate": []}
    try:
        for workers in (1, 2):
            rows["char_rnn"].append(char_lm(workers, root))
            print(json.dumps(rows["char_rnn"][-1]), flush=True)
        for workers in (1, 2):
            rows["translate"].append(translate(workers, root))
            print(json.dumps(rows["translate"][-1]), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    path = write_result("distributed", {
        "what": "multi_worker (MultiWorkerMirroredStrategy, loopback, 1 CPU replica per "
                "worker) vs one process, same global batch and seed",
        "char_rnn_overrides": CHAR_LM, "translate_overrides": TRANSLATE,
        "results": rows,
        "gpu_mirrored": "not run (no GPU lent to this task)",
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
