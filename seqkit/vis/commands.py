"""One function per ``seqkit vis`` command: a run directory in, files out.

Each writes into ``out`` (default ``<run_dir>/vis/``) and returns the paths written.

Example:
    >>> [p.name for p in vis_activations("runs/char_rnn")]
    ['activations.html', 'activations.png']
"""

from __future__ import annotations

import json

import numpy as np

from seqkit.vis.runs import TOKEN_TASKS, default_text, load_run, require_task


def _text(run, text, max_chars):
    text = text if text is not None else default_text(run, max_chars)
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty str, received {text!r:.80}.")
    return text[:max_chars] if run.task == "char_lm" else text


def _write_json(path, data):
    path.write_text(json.dumps(data, indent=2, default=float))
    return path


def _ranked_units(run, trace, text, top=3):
    """Best units per feature (char LMs), else the units that vary most."""
    from seqkit.vis.features import feature_signals
    from seqkit.vis.interpretable import best_units, rank_units

    if run.task == "char_lm":
        ranking = rank_units(trace, feature_signals(text), top=top)
        return best_units(ranking), ranking
    entries = []
    for (layer, kind), values in trace.signals().items():
        for unit in np.argsort(-values.std(axis=0))[:top]:
            entries.append((f"varies most (std {values[:, unit].std():.2f})",
                            {"layer": layer, "signal": kind, "unit": int(unit),
                             "r": float(values[:, unit].std())}))
    return entries, None


def vis_activations(run_dir, text=None, out=None, max_chars=2000, units=None):
    """Activations over text: an HTML page with a unit picker and a PNG of chosen units.

    Args:
        run_dir: A char-LM or text-classifier run (or recipe name).
        text: Text to read (default: the run's held-out text).
        out: Output folder (default ``<run_dir>/vis``).
        max_chars: Characters read at most.
        units: ``[(layer, unit)]`` drawn in the PNG (default: best-ranked units).
    """
    from seqkit.vis.activations import trace_run
    from seqkit.vis.html import write_activation_page
    from seqkit.vis.plots import plot_text_units

    run = load_run(run_dir)
    require_task(run, TOKEN_TASKS, "seqkit vis activations")
    text = _text(run, text, max_chars)
    trace = trace_run(run, text)
    ranked, _ = _ranked_units(run, trace, text)
    folder = run.out_dir(out)
    page = write_activation_page(trace, folder / "activations.html", ranked,
                                 title=f"{run.run_dir.name}: activations over text")
    if units:
        shown = [(layer, trace.layers[layer].cell_signal, unit, "") for layer, unit in units]
    else:
        shown = [(e["layer"], e["signal"], e["unit"], f"{name}: layer {e['layer']} unit "
                  f"{e['unit']} {e['signal']} (r = {e['r']:+.2f})") for name, e in ranked[:4]]
    png = plot_text_units(trace, shown, folder / "activations.png")
    return [page, png]


def vis_cells(run_dir, text=None, out=None, max_chars=5000, features=None, top=5):
    """Interpretable-cell search: ``cells.json`` (ranking), ``cells.png`` and ``cells.html``.

    Args:
        run_dir: A char-LM run.
        text: Text to read (default: the run's held-out text).
        features: Registered feature names (default: all).
        top: Units kept per feature.
    """
    from seqkit.vis.html import write_activation_page
    from seqkit.vis.interpretable import best_units, search_cells
    from seqkit.vis.plots import plot_text_units

    run = load_run(run_dir)
    require_task(run, ("char_lm",), "seqkit vis cells")
    text = _text(run, text, max_chars)
    trace, ranking = search_cells(run, text, features=features, top=top)
    best = best_units(ranking)
    folder = run.out_dir(out)
    ranking["run"] = str(run.run_dir)
    ranking["cell"] = run.config.get("model", {}).get("cell")
    paths = [_write_json(folder / "cells.json", ranking)]
    shown = [(e["layer"], e["signal"], e["unit"], f"{name}: layer {e['layer']} unit "
              f"{e['unit']} (r = {e['r']:+.2f})") for name, e in best[:6]]
    paths.append(plot_text_units(trace, shown, folder / "cells.png"))
    ranked = [(name, entry) for name, entries in ranking["features"].items()
              for entry in entries]
    paths.append(write_activation_page(trace, folder / "cells.html", ranked,
                                       title=f"{run.run_dir.name}: interpretable cells"))
    return paths


def vis_saturation(run_dir, text=None, out=None, max_chars=5000):
    """Gate saturation per layer: ``saturation.json`` and ``saturation.png``."""
    from seqkit.vis.activations import trace_run
    from seqkit.vis.plots import scatter_saturation
    from seqkit.vis.saturation import gate_saturation, summarise

    run = load_run(run_dir)
    require_task(run, TOKEN_TASKS, "seqkit vis saturation")
    text = _text(run, text, max_chars)
    table = gate_saturation(trace_run(run, text))
    folder = run.out_dir(out)
    cell = run.config.get("model", {}).get("cell")
    return [_write_json(folder / "saturation.json", {"cell": cell, "steps": len(text),
                                                     "layers": summarise(table)}),
            scatter_saturation(table, folder / "saturation.png",
                               title=f"{run.run_dir.name} ({cell}): gate saturation")]


def vis_gradient_flow(run_dir, text=None, out=None, steps=100, batch=8):
    """``||dL_T/dh_t||`` of a trained char LM over windows of its text, and sigma_max.

    Args:
        steps: T, the window length (the loss is at its last step).
        batch: Number of windows averaged.
    """
    from seqkit.vis.gradient_flow import lm_gradient_flow, recurrent_singular_values
    from seqkit.vis.plots import plot_gradient_flow

    run = load_run(run_dir)
    require_task(run, ("char_lm",), "seqkit vis gradient-flow")
    text = _text(run, text, max(20_000, (steps + 1) * batch))
    ids = run.vocab.encode(text)
    if len(ids) < steps + 1:
        raise ValueError(f"text has {len(ids)} characters; gradient flow over steps={steps} "
                         f"needs at least {steps + 1}.")
    starts = np.linspace(0, len(ids) - steps - 1, batch).astype(int)
    windows = np.stack([ids[s:s + steps + 1] for s in starts])
    flow = lm_gradient_flow(run.model, windows)
    sigma = recurrent_singular_values(run.model.get_layer("recurrent"))
    folder = run.out_dir(out)
    curves = {f"layer {layer} h": flow["h"][layer] for layer in range(len(flow["h"]))}
    curves.update({f"layer {layer} c": flow["c"][layer]
                   for layer in range(len(flow.get("c", [])))})
    cell = run.config.get("model", {}).get("cell")
    data = {"cell": cell, "steps": steps, "batch": int(len(windows)), "loss_T": flow["loss"],
            "sigma_max": sigma, **{k: v.tolist() for k, v in flow.items() if k != "loss"}}
    return [_write_json(folder / "gradient_flow.json", data),
            plot_gradient_flow(curves, folder / "gradient_flow.png",
                               title=f"{run.run_dir.name} ({cell}): gradient of the last "
                                     "step's loss")]


def vis_saliency(run_dir, text=None, image=None, out=None, smooth_samples=20):
    """Saliency and SmoothGrad (tf-keras-vis): tokens of a text classifier, pixels of a
    captioner's words, or input values of a frame classifier.

    Args:
        text: Text to explain (text classifiers).
        image: Image file (PNG/JPEG) or array (captioners, frame classifiers); the first
            held-out example when omitted.
    """
    from seqkit.vis.plots import plot_pixel_saliency, plot_token_saliency
    from seqkit.vis.saliency import frame_saliency, pixel_saliency, token_saliency

    run = load_run(run_dir)
    folder = run.out_dir(out)
    if run.task == "classify" and run.vocab is not None:
        if text is None:
            raise ValueError("seqkit vis saliency needs --text for a text classifier.")
        result = token_saliency(run.model, run.vocab, text, smooth_samples=smooth_samples)
        names = _class_names(run, len(result["probabilities"]))
        label = names[result["class_index"]]
        data = {"text": text, "tokens": result["tokens"], "predicted": label,
                "probabilities": dict(zip(names, result["probabilities"].tolist())),
                "saliency": result["saliency"].tolist(),
                "smoothgrad": result["smoothgrad"].tolist()}
        png = plot_token_saliency(result["tokens"], {k: result[k] for k in ("saliency",
                                                                             "smoothgrad")},
                                  folder / "saliency.png",
                                  title=f"prediction: {label} "
                                        f"(p = {result['probabilities'].max():.2f})")
        return [_write_json(folder / "saliency.json", data), png]
    if run.task == "caption":
        picture = _image(run, image)
        max_length = run.config.get("eval", {}).get("max_length", 20)
        result = pixel_saliency(run.model, run.vocab, picture, smooth_samples=smooth_samples,
                                max_length=max_length)
        png = plot_pixel_saliency(result["image"], result["words"],
                                  {k: result[k] for k in ("saliency", "smoothgrad")},
                                  folder / "saliency.png",
                                  title="caption: " + " ".join(result["words"]))
        return [_write_json(folder / "saliency.json", {"caption": result["words"]}), png]
    if run.task == "classify":
        frames = _image(run, image).astype(np.float32)
        frames = frames[..., 0] if frames.ndim == 3 else frames
        result = frame_saliency(run.model, frames / 255.0 if frames.max() > 1 else frames,
                                smooth_samples=smooth_samples)
        names = _class_names(run, len(result["probabilities"]))
        png = plot_pixel_saliency(result["frames"], [names[result["class_index"]]],
                                  {k: result[k][None] for k in ("saliency", "smoothgrad")},
                                  folder / "saliency.png", title="frames (rows are steps)")
        return [_write_json(folder / "saliency.json",
                            {"predicted": names[result["class_index"]]}), png]
    raise ValueError(f"seqkit vis saliency explains classify and caption runs; "
                     f"{str(run.run_dir)!r} has task {run.task!r}.")


def _class_names(run, count):
    metrics = run.run_dir / "metrics.json"
    names = json.loads(metrics.read_text()).get("class_names") if metrics.exists() else None
    return list(names) if names and len(names) == count else [str(i) for i in range(count)]


def _image(run, image):
    """An image array from a file, an array, or the run's first held-out example."""
    if image is None:
        if run.task == "caption":
            from seqkit.data.images import load_captions

            d = run.config["data"]
            example = next(load_captions(d["dataset"], "test", num_train=d["num_train"],
                                         num_validation=d["num_validation"],
                                         num_test=d["num_test"], seed=d["seed"])
                           .as_numpy_iterator())
            return np.asarray(example["image"])
        from seqkit.data.images import load_fashion_mnist

        return load_fashion_mnist(seed=run.config["data"].get("seed", 0)).split("test")[0][0]
    if isinstance(image, np.ndarray):
        return image
    import tensorflow as tf

    raw = tf.io.read_file(str(image))
    return tf.io.decode_image(raw, expand_animations=False).numpy()


def vis_curves(run_dir, out=None):
    """Training curves from the run's ``history.json`` (``curves.png``)."""
    from seqkit.export import resolve_run
    from seqkit.vis.curves import plot_run_curves

    return [plot_run_curves(resolve_run(run_dir), out)]
