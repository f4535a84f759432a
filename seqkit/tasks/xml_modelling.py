"""Synthetic XML modelling (Jozefowicz et al. 2015): a character LM over nested tags.

Trained on every character (next-character prediction); ``closing_accuracy``
and ``closing_nats`` score only the characters of closing tags after ``</``,
which the open tags determine (see ``seqkit.data.synthetic.closing_mask``).
``accuracy``/``nats`` without prefix are over all characters.
"""

from seqkit.data.synthetic import XML_ALPHABET, closing_mask, load_xml
from seqkit.tasks.masked import MaskedStepMetric, evaluate_split, prepare_char_task

DATA_KEYS = ("num_train", "num_validation", "num_test", "seed", "max_depth", "max_children",
             "max_name_length", "max_length")


def _ones(text):
    return [1] * len(text)


def prepare(config):
    return prepare_char_task(config, XML_ALPHABET, load_xml, DATA_KEYS, _ones, closing_mask,
                             [MaskedStepMetric("accuracy", "closing_accuracy"),
                              MaskedStepMetric("nats", "closing_nats")])


def evaluate(config, model, prepared):
    """Closing-tag accuracy and nats, and the loss over all characters, on the test split."""
    return evaluate_split(model, prepared["test"])


def save_artifacts(prepared, run_dir):
    prepared["table"].save(run_dir / "vocab.json")
