"""Interpretable cells on real text: a small char LSTM trained for a bounded time on the
Linux kernel headers and on Shakespeare, then every unit ranked against every feature
of seqkit.vis.features (quotes, comments, line position, bracket/brace depth, if
statements, preprocessor lines, speaker lines, stage directions ...), plus gate
saturation and a headless-Chromium screenshot of the activation page.

    python -m benchmarks.interpretable_cells --budget-s 240
    python -m benchmarks.interpretable_cells --reuse          # runs/vis_<corpus> as they are

Writes benchmarks/results/interpretable_cells.json, interpretable_cells_<corpus>.png and
.html, saturation_<corpus>.png and vis_activations.png (screenshot).
"""

import argparse
import json
import shutil
from pathlib import Path

from benchmarks.common import RESULTS, write_result

CORPORA = ("linux", "shakespeare")


def train(corpus, budget_s, units, depth, reuse):
    from seqkit.config import recipe_config
    from seqkit.train import run

    run_dir = Path(f"runs/vis_{corpus}")
    if reuse and (run_dir / "model.keras").exists():
        return run_dir, json.loads((run_dir / "metrics.json").read_text())
    config = recipe_config("char_rnn", [
        f"data.corpus={corpus}", "model.cell=lstm", f"model.units={units}",
        f"model.depth={depth}", "train.epochs=1000", f"train.time_budget_s={budget_s}",
        "train.val_every=0", "train.val_steps=20", "train.sample_every=0",
        "train.checkpoint_every=0", f"train.run_dir={run_dir}", "train.resume=False",
        "train.verbose=0", "sample.length=200"])
    config["name"] = f"vis_{corpus}"
    _, result = run(config)
    return run_dir, result["metrics"]


def analyse(corpus, run_dir, chars):
    from seqkit.vis import load_run, search_cells
    from seqkit.vis.commands import vis_cells, vis_saturation
    from seqkit.vis.runs import default_text

    run = load_run(run_dir)
    text = default_text(run, chars)
    _, ranking = search_cells(run, text, top=3)
    out = run_dir / "vis"
    vis_cells(run_dir, text=text, out=out)
    vis_saturation(run_dir, text=text, out=out)
    for name, target in (("cells.png", f"interpretable_cells_{corpus}.png"),
                         ("cells.html", f"interpretable_cells_{corpus}.html"),
                         ("saturation.png", f"saturation_{corpus}.png")):
        shutil.copy(out / name, RESULTS / target)
    saturation = json.loads((out / "saturation.json").read_text())["layers"]
    return ranking, {layer: {gate: {k: v[k] for k in ("mean_left", "mean_right",
                                                        "never_saturated_units")}
                             for gate, v in gates.items()}
                     for layer, gates in saturation.items()}


def screenshot(page):
    from seqkit.vis.browser import find_chromium, page_state, render

    if find_chromium() is None:
        return "chromium not installed"
    dom = render(page, screenshot=RESULTS / "vis_activations.png", size=(1200, 900))
    return page_state(dom)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget-s", type=float, default=240)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--chars", type=int, default=6000, help="held-out characters read")
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {}
    for corpus in args.corpora.split(","):
        run_dir, metrics = train(corpus, args.budget_s, args.units, args.depth, args.reuse)
        ranking, saturation = analyse(corpus, run_dir, args.chars)
        results[corpus] = {
            "run_dir": str(run_dir), "steps": metrics.get("steps"),
            "val_nats_per_char": metrics.get("val_nats_per_char"),
            "features": ranking["features"], "skipped": ranking["skipped"],
            "chars": ranking["chars"], "saturation": saturation}
        print(f"\n{corpus}: {metrics.get('steps')} steps, validation "
              f"{metrics.get('val_nats_per_char')} nats/char")
        for name, entries in ranking["features"].items():
            best = entries[0]
            print(f"  {name:20s} layer {best['layer']} unit {best['unit']:3d} "
                  f"r = {best['r']:+.3f}")
    state = screenshot(RESULTS / f"interpretable_cells_{args.corpora.split(',')[0]}.html")
    path = write_result("interpretable_cells", {
        "settings": vars(args), "corpora": results, "screenshot_page_state": state})
    print(f"wrote {path} (screenshot page state: {state})")


if __name__ == "__main__":
    main()
