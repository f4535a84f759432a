"""Latency of an exported character LM's signatures (in process, ``tf.saved_model.load``).

char-rnn's model (2-layer LSTM 128, Shakespeare's vocabulary, untrained weights:
latency does not depend on them) is exported with ``seqkit.export``; each
signature is called at batch 1 and 32 and its p50/p99 wall times reported, with
``Sampler.sample`` (the in-process Keras sampler the ``generate`` signature
reuses) as the reference, and a larger fuzz run of ``generate`` on odd strings.

    python -m benchmarks.export_latency                  # writes results/export_latency.json
    python -m benchmarks.export_latency --threads 1      # one intra-op thread

Another benchmark using the CPU at the same time makes these timings noisy: the
load average before and after is recorded with them.
"""

import argparse
import os
import random
import tempfile
import time

import numpy as np

from benchmarks.common import write_result


def percentiles(times):
    times = np.asarray(times) * 1000.0
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)),
            "mean_ms": float(times.mean()), "n": int(times.size)}


def timed(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return percentiles(times)


def odd_strings(rng, count, vocab_chars):
    out = [b"", ("a" * 20_000).encode(), bytes(range(256)), b"\xff\xfe", b"\xed\xa0\x80"]
    while len(out) < count:
        n = rng.choice([0, 1, 3, 10, 40])
        kind = rng.randrange(4)
        if kind == 0:
            out.append("".join(chr(rng.choice([rng.randrange(0x20, 0xD800),
                                                rng.randrange(0xE000, 0x110000)]))
                               for _ in range(n)).encode())
        elif kind == 1:
            out.append("".join(chr(rng.randrange(32)) for _ in range(n)).encode())
        elif kind == 2:
            out.append(bytes(rng.randrange(256) for _ in range(n)))
        else:
            out.append("".join(rng.choice(vocab_chars) for _ in range(n)).encode())
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--length", type=int, default=100, help="characters generated")
    parser.add_argument("--repeats", type=int, default=30, help="calls per generate case")
    parser.add_argument("--step-repeats", type=int, default=500, dest="step_repeats")
    parser.add_argument("--fuzz", type=int, default=10_000, help="odd strings through generate")
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads (0: TensorFlow's default)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)

    from seqkit.builders import build_many_to_many
    from seqkit.data import CharVocab, load_text
    from seqkit.export import export_model
    from seqkit.generate import Sampler

    load_before = os.getloadavg()
    vocab = CharVocab.from_text(load_text("shakespeare", max_chars=200_000))
    model = build_many_to_many(args.cell, args.units, vocab.size, depth=args.depth,
                               compile=False, name="char_rnn")
    with tempfile.TemporaryDirectory() as root:
        started = time.perf_counter()
        version = export_model(model, vocab, os.path.join(root, "saved_models"), "char_rnn")
        export_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in version.rglob("*") if p.is_file())
        started = time.perf_counter()
        loaded = tf.saved_model.load(str(version))
        load_s = time.perf_counter() - started
        signatures = loaded.signatures
        results = {}
        for batch in (1, 32):
            prompts = tf.constant(["ROMEO.\n"] * batch)
            args_generate = dict(prompt=prompts, length=tf.constant([args.length]),
                                 temperature=tf.constant([0.8]),
                                 seed=tf.constant(np.arange(batch), tf.int64))
            repeats = args.repeats if batch == 1 else max(5, args.repeats // 3)
            results[f"generate_b{batch}"] = timed(
                lambda a=args_generate: signatures["generate"](**a), repeats)
            results[f"generate_b{batch}"]["chars_per_s"] = (
                batch * args.length / (results[f"generate_b{batch}"]["p50_ms"] / 1000.0))
            step_inputs = {"token": tf.constant(vocab.encode("R" * batch))}
            for i, size_i in enumerate(s.shape[-1] for s in model.get_layer(
                    "recurrent").initial_state(1)):
                step_inputs[f"state_{i}"] = tf.zeros([batch, size_i])
            results[f"step_b{batch}"] = timed(
                lambda a=step_inputs: signatures["step"](**a), args.step_repeats)
        results["vocabulary"] = timed(lambda: signatures["vocabulary"](), args.step_repeats)

        # The reference, interleaved call by call with the exported generate (same load).
        sampler = Sampler(model, vocab)
        one = dict(prompt=tf.constant(["ROMEO.\n"]), length=tf.constant([args.length]),
                   temperature=tf.constant([0.8]), seed=tf.constant([1], tf.int64))
        exported_times, sampler_times = [], []
        for i in range(args.repeats + 2):
            for fn, times in ((lambda: signatures["generate"](**one), exported_times),
                              (lambda: sampler.sample("ROMEO.\n", args.length, 0.8, 0, 1),
                               sampler_times)):
                started = time.perf_counter()
                fn()
                if i >= 2:
                    times.append(time.perf_counter() - started)
        results["generate_b1_interleaved"] = percentiles(exported_times)
        results["reference_sampler_b1_interleaved"] = percentiles(sampler_times)
        ratio = (results["generate_b1_interleaved"]["p50_ms"]
                 / results["reference_sampler_b1_interleaved"]["p50_ms"])

        fuzz = {}
        if args.fuzz:
            strings = odd_strings(random.Random(0), args.fuzz, vocab.chars)
            started, texts, errors = time.perf_counter(), [], 0
            for start in range(0, len(strings), 500):
                batch = strings[start:start + 500]
                try:
                    out = signatures["generate"](
                        prompt=tf.constant(batch, tf.string), length=tf.constant([2]),
                        temperature=tf.constant([1.0]),
                        seed=tf.constant(np.arange(start, start + len(batch)), tf.int64))
                    texts += list(out["text"].numpy())
                except tf.errors.InvalidArgumentError:
                    errors += 1
            invalid = sum(1 for t in texts if len(t.decode("utf-8")) != 2)
            fuzz = {"strings": len(strings), "prompt_chars": sum(len(s) for s in strings),
                    "seconds": time.perf_counter() - started, "batch_errors": errors,
                    "invalid_outputs": invalid}

    load_after = os.getloadavg()
    data = {
        "command": "python -m benchmarks.export_latency " + " ".join(argv or []),
        "model": {"cell": args.cell, "units": args.units, "depth": args.depth,
                  "vocab_size": vocab.size, "generate_length": args.length},
        "threads": args.threads or "default",
        "export_s": export_s, "load_s": load_s, "saved_model_bytes": size,
        "latency": results,
        "generate_b1_vs_sampler_p50": ratio,
        "fuzz": fuzz,
        "load_average_before": load_before, "load_average_after": load_after,
        "note": "wall-clock p50/p99 in ms; generate runs the prompts of a batch one "
                "after another (Sampler's loop per prompt), step is batched. Other "
                "processes shared the CPU when the load average exceeds the core count.",
    }
    path = write_result("export_latency", data)
    width = max(map(len, results))
    for name, r in results.items():
        print(f"{name:<{width}}  p50 {r['p50_ms']:9.2f} ms  p99 {r['p99_ms']:9.2f} ms  "
              f"(n={r['n']})")
    print(f"generate b1 / Sampler.sample p50 (interleaved): {ratio:.2f}; export {export_s:.1f} s, "
          f"load {load_s:.2f} s; fuzz {fuzz}; load average {load_before} -> {load_after}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
