"""Greff et al. (2015), "LSTM: A Search Space Odyssey", on this machine: the vanilla
(peephole) LSTM and its eight variants on JSB-style music (Bach chorales from music21),
each with a small random search under a time budget. Writes
benchmarks/results/greff.{json,md}.

    python -m benchmarks.greff                          # default: ~25 min on 2 CPU cores
    python -m benchmarks.greff --trials 2 --cell-budget-s 40       # a ~10-minute smoke run
    python -m benchmarks.greff --full                   # 10 trials x 30 min per variant

Resumable like benchmarks.jozefowicz (Keras Tuner projects under tuner/greff/). NIG, NFG,
NOG and NP (= the plain ``lstm``) are taken from benchmarks/results/jozefowicz.json when it
holds the identical sweeps (same budget); ``--no-reuse`` reruns them.
"""

from benchmarks.jozefowicz import JOZEFOWICZ_TASKS, parser, run_benchmark

GREFF_CELLS = {
    "V (vanilla, peepholes)": ("lstm_peephole", []),
    "NIG (no input gate)": ("lstm_nig", []),
    "NFG (no forget gate)": ("lstm_nfg", []),
    "NOG (no output gate)": ("lstm_nog", []),
    "NIAF (no input activation)": ("lstm_niaf", []),
    "NOAF (no output activation)": ("lstm_noaf", []),
    "NP (no peepholes)": ("lstm", []),
    "CIFG (coupled input-forget)": ("lstm_cifg", []),
    "FGR (full gate recurrence)": ("lstm_fgr", []),
}
GREFF_TASKS = {"music": JOZEFOWICZ_TASKS["music"]}
# Rows that benchmarks.jozefowicz also sweeps (same recipe, cell, space and seed): with the
# same budget, their results are taken from benchmarks/results/jozefowicz.json.
SHARED = {"NIG (no input gate)": ("jozefowicz", "lstm_nig"),
          "NFG (no forget gate)": ("jozefowicz", "lstm_nfg"),
          "NOG (no output gate)": ("jozefowicz", "lstm_nog"),
          "NP (no peepholes)": ("jozefowicz", "lstm (forget bias 1)")}
NOTES = ("Task: the Bach chorales of music21 as 88-key piano rolls at quarter-note frames, "
         "next-frame prediction with sigmoid outputs, test NLL in nats per frame "
         "(`recipes/music.py`). Greff et al. also ran TIMIT and IAM Online, not reproduced "
         "here.\n")


def main():
    p = parser(__doc__)
    p.add_argument("--no-reuse", action="store_true", dest="no_reuse",
                   help="rerun the rows that benchmarks.jozefowicz already swept")
    args = p.parse_args()
    run_benchmark("greff", "Greff et al. (2015) LSTM variants on music, measured here",
                  GREFF_CELLS, GREFF_TASKS, args, NOTES,
                  reuse=None if args.no_reuse else SHARED)


if __name__ == "__main__":
    main()
