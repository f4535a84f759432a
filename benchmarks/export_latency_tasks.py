"""Latency of the exported classifiers, captioner and translator (in process).

Exports the trained runs of `make sentiment sequence-classify caption translate` (under
runs/) into a temporary folder and times each signature at batch 1 and 32 on held-out
inputs: p50/p99 wall time per call.

    python -m benchmarks.export_latency_tasks            # writes results/export_latency_tasks.json
"""

import argparse
import io
import os
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import write_result
from benchmarks.export_latency import timed

RUNS = {"sentiment": "runs/sentiment", "sequence_classify": "runs/sequence_classify",
        "caption": "runs/caption", "translate": "runs/translate_attention"}


def png(image):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.squeeze(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def inputs_for(name, batch):
    """Real held-out inputs for each run's serving signatures."""
    import tensorflow as tf

    if name == "sentiment":
        from seqkit.data.sentiment import load_sentiment

        texts = load_sentiment("tweets").test[0][:batch]
        return {"serving_default": {"text": tf.constant(list(texts))}}
    if name == "sequence_classify":
        from seqkit.data.images import load_fashion_mnist

        images = load_fashion_mnist().test[0][:batch]
        return {"serving_default": {"image": tf.constant(images)},
                "classify_bytes": {"image_bytes": tf.constant([png(i) for i in images])}}
    if name == "caption":
        from seqkit.data.images import load_captions

        images = np.stack([e["image"] for e in load_captions(
            "fashion_captions", "test", num_train=20000, num_validation=1000,
            num_test=1000).take(batch).as_numpy_iterator()])
        data = tf.constant([png(i) for i in images])
        return {"serving_default": {"image_bytes": data},
                "beam_bytes": {"image_bytes": data, "beam_width": tf.constant([3] * batch)}}
    from seqkit.data.translation import load_translation_pairs

    sources = load_translation_pairs("fr", max_tokens=12).test[0][:batch]
    return {"serving_default": {"source": tf.constant(list(sources))},
            "beam": {"source": tf.constant(list(sources)), "beam_width": tf.constant([4] * batch)}}


def main(argv=None):
    import tensorflow as tf

    from seqkit.export import export_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as base:
        for name, run in RUNS.items():
            if not Path(run, "model.keras").exists():
                print(f"{name}: no trained run at {run} (make {name.replace('_', '-')}); skipped")
                continue
            path = export_run(run, base=base, name=name)
            loaded = tf.saved_model.load(str(path))
            results[name] = {}
            for batch in (1, 32):
                for signature, feed in inputs_for(name, batch).items():
                    fn = loaded.signatures[signature]
                    stats = timed(lambda fn=fn, feed=feed: fn(**feed), args.repeats, warmup=1)
                    results[name][f"{signature}_b{batch}"] = stats
                    print(f"{name:18s} {signature:16s} batch {batch:2d}: "
                          f"p50 {stats['p50_ms']:8.2f} ms  p99 {stats['p99_ms']:8.2f} ms")
    path = write_result("export_latency_tasks", {
        "command": "python -m benchmarks.export_latency_tasks", "runs": RUNS,
        "load_average": list(os.getloadavg()), "latency": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
