"""Arithmetic with distractors (Jozefowicz et al. 2015), many-to-many, answer scored.

The model reads ``"5b600+34i2hh=5942."`` one character at a time and predicts
the next character at each step; the loss and the metrics count only the
characters after ``=`` (the answer and the final ``.``). ``answer_accuracy``
is per character with the true prefix given (teacher forcing);
``answer_exact`` is the fraction of problems whose every answer character is
predicted right, which is exactly the fraction that greedy decoding answers
correctly.
"""

from seqkit.data.synthetic import ARITHMETIC_ALPHABET, load_arithmetic
from seqkit.tasks.masked import MaskedStepMetric, evaluate_split, prepare_char_task

DATA_KEYS = ("num_train", "num_validation", "num_test", "seed", "max_digits",
             "distractor_prob")


def answer_weights(text):
    """1 for each character after ``=`` (the answer and ``.``), else 0."""
    start = text.index("=") + 1
    return [0] * start + [1] * (len(text) - start)


def prepare(config):
    return prepare_char_task(config, ARITHMETIC_ALPHABET, load_arithmetic, DATA_KEYS,
                             answer_weights, answer_weights,
                             [MaskedStepMetric("accuracy", "answer_accuracy"),
                              MaskedStepMetric("nats", "answer_nats"),
                              MaskedStepMetric("exact", "answer_exact")])


def evaluate(config, model, prepared):
    """Answer accuracy, nats and exact match on the held-out test problems."""
    return evaluate_split(model, prepared["test"])


def save_artifacts(prepared, run_dir):
    prepared["table"].save(run_dir / "vocab.json")
