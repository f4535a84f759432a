"""Gradient flow through time on one task for vanilla, LSTM, GRU and MUT1 cells:
||dL_T/dh_t|| against t (L_T: the cross-entropy of the last prediction of 100-character
windows of the Linux headers), the largest singular value of each recurrent matrix,
vanilla RNNs whose recurrent matrix is rescaled to sigma_max 0.5 ... 3 (vanishing and
exploding gradients), and SGD training of the exploding one with and without clipping.

    python -m benchmarks.gradient_flow

Writes benchmarks/results/gradient_flow.json and gradient_flow.png.
"""

import argparse

import numpy as np

from benchmarks.common import RESULTS, write_result

CELLS = ("vanilla", "lstm", "gru", "mut1")
SCALES = (0.5, 1.0, 1.5, 3.0)


def windows(steps, batch, seed=0):
    from seqkit.data import CharVocab, load_text

    text = load_text("linux", max_chars=400_000)
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    starts = np.random.default_rng(seed).integers(0, len(ids) - steps - 1, size=batch)
    return np.stack([ids[s:s + steps + 1] for s in starts]), vocab.size + 1


def plot(results, path):
    from seqkit.vis.plots import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for cell, flow in results["cells"].items():
        axes[0].semilogy(np.arange(1, len(flow["h"][0]) + 1), flow["h"][0], label=cell)
        if "c" in flow:
            axes[0].semilogy(np.arange(1, len(flow["c"][0]) + 1), flow["c"][0], ls="--",
                             label=f"{cell} (c)")
    axes[0].set_title("fresh models, same batch and seed")
    for scale, flow in results["vanilla_scales"].items():
        axes[1].semilogy(np.arange(1, len(flow["h"][0]) + 1), flow["h"][0],
                         label=f"vanilla, sigma_max(W_hh) = {scale}")
    axes[1].set_title("vanilla RNN: rescaled recurrent matrix")
    for ax in axes[:2]:
        ax.set_xlabel("step t (loss at T = last step)")
        ax.set_ylabel("||dL_T / dh_t||")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    for label, history in results["clipping"].items():
        axes[2].semilogy(history["grad_norm"], label=f"{label}: gradient norm")
        axes[2].semilogy(history["loss"], ls="--", label=f"{label}: loss")
    axes[2].set_xlabel("SGD step")
    axes[2].set_title(f"vanilla, sigma_max = {results['clip_scale']}: clipping")
    axes[2].grid(alpha=0.3, which="both")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary(flow):
    h = np.asarray(flow["h"][0])
    return {"first_over_last": float(h[0] / h[-1]), "at_t1": float(h[0]),
            "at_T": float(h[-1])}


def main():
    from seqkit.vis.gradient_flow import compare_cells, fresh_model, train_and_watch

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--train-steps", type=int, default=60, dest="train_steps")
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--clipnorm", type=float, default=1.0)
    parser.add_argument("--clip-scale", type=float, default=3.0, dest="clip_scale")
    args = parser.parse_args()
    ids, vocab_size = windows(args.steps, args.batch)
    cells = compare_cells(CELLS, ids, vocab_size, units=args.units, seed=0)
    scales = {str(s): compare_cells(["vanilla"], ids, vocab_size, units=args.units, seed=0,
                                    recurrent_scale=s)["vanilla"] for s in SCALES}
    train_ids, _ = windows(50, 32, seed=1)
    batches = np.array_split(train_ids, 4)
    clipping = {}
    for label, clip in (("no clipping", None), (f"clipnorm {args.clipnorm}", args.clipnorm)):
        model = fresh_model("vanilla", vocab_size, args.units, seed=0,
                            recurrent_scale=args.clip_scale)
        clipping[label] = train_and_watch(model, batches, args.train_steps, args.lr, clip)
    results = {"cells": cells, "vanilla_scales": scales, "clipping": clipping,
               "clip_scale": args.clip_scale}
    plot(results, RESULTS / "gradient_flow.png")
    jsonable = {
        "settings": vars(args),
        "cells": {c: {"summary": summary(f), "loss_T": f["loss"], "sigma_max": f["sigma_max"],
                      "h": np.round(f["h"][0], 8).tolist(),
                      **({"c": np.round(f["c"][0], 8).tolist()} if "c" in f else {})}
                  for c, f in cells.items()},
        "vanilla_scales": {s: {"summary": summary(f), "h": np.round(f["h"][0], 8).tolist()}
                           for s, f in scales.items()},
        "clipping": clipping}
    path = write_result("gradient_flow", jsonable)
    for cell, data in jsonable["cells"].items():
        print(f"{cell:8s} ||dL/dh_1|| / ||dL/dh_T|| = {data['summary']['first_over_last']:.3g}"
              f"  sigma_max {data['sigma_max'][0]}")
    for scale, data in jsonable["vanilla_scales"].items():
        print(f"vanilla sigma_max {scale}: ratio {data['summary']['first_over_last']:.3g}")
    for label, history in clipping.items():
        print(f"{label}: final loss {history['loss'][-1]:.3f}, max grad norm "
              f"{max(history['grad_norm']):.3g}, steps {len(history['loss'])}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
