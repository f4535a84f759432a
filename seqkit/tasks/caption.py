"""One-to-many: image captioning with greedy and beam-search decoding."""

import keras
import numpy as np
import tensorflow as tf

from seqkit.builders import build_one_to_many
from seqkit.data.words import WordVocab, tokenize
from seqkit.generate import SequenceDecoder
from seqkit.metrics import bleu, exact_match
from seqkit.tasks.common import shifted


def _arrays(config, split):
    from seqkit.data.images import load_captions

    d = config["data"]
    dataset = load_captions(d["dataset"], split, num_train=d["num_train"],
                            num_validation=d["num_validation"], num_test=d["num_test"],
                            seed=d["seed"])
    images, captions = [], []
    for example in dataset.as_numpy_iterator():
        images.append(example["image"])
        captions.append(example["caption"].decode("utf-8"))
    return np.stack(images), captions


def _dataset(images, ids, batch_size, shuffle, seed):
    inputs, targets = shifted(ids)
    x = tf.ragged.constant(inputs, dtype=tf.int32).to_tensor()
    y = tf.ragged.constant(targets, dtype=tf.int32).to_tensor()
    dataset = tf.data.Dataset.from_tensor_slices(({"image": images, "tokens": x}, {"logits": y}))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def prepare(config):
    train = config["train"]
    splits = {name: _arrays(config, name) for name in ("train", "validation", "test")}
    vocab = WordVocab.from_texts(splits["train"][1])
    datasets = {
        name: _dataset(images, [vocab.encode(c, start_end=True) for c in captions],
                       train["batch_size"], name == "train", train["seed"])
        for name, (images, captions) in splits.items()}
    m = config["model"]
    model = build_one_to_many(
        m["cell"], m["units"], vocab.size, splits["train"][0].shape[1:], depth=m["depth"],
        embedding_dim=m["embedding_dim"], conditioning=m["conditioning"], dropout=m["dropout"],
        init=m["init"], cell_kwargs=m["cell_kwargs"], compile=False, name=config["name"])
    return {"model": model, "train": datasets["train"], "validation": datasets["validation"],
            "test": datasets["test"], "splits": splits, "vocab": vocab,
            "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": None}


def evaluate(config, model, prepared):
    """BLEU-4 and exact match of greedy and beam-search captions on held-out grids."""
    e, vocab = config["eval"], prepared["vocab"]
    images, captions = prepared["splits"]["test"]
    images, captions = images[:e["examples"]], captions[:e["examples"]]
    references = [" ".join(tokenize(c)) for c in captions]
    decoder = SequenceDecoder(model, vocab.start_id, vocab.end_id, e["max_length"])
    results = {"test_examples": len(captions)}
    for mode in ("greedy", "beam"):
        ids = decoder.greedy({"image": images}) if mode == "greedy" else \
            decoder.beam({"image": images}, width=e["beam_width"])
        hypotheses = [vocab.decode(seq) for seq in ids]
        results[f"{mode}_bleu4"] = bleu(hypotheses, references)
        results[f"{mode}_exact_match"] = exact_match(hypotheses, references)
        results[f"{mode}_examples"] = [
            {"reference": r, "generated": h} for r, h in zip(references[:5], hypotheses[:5])]
    results["beam_width"] = e["beam_width"]
    most_common = max(set(prepared["splits"]["train"][1]), key=prepared["splits"]["train"][1].count)
    baseline = [" ".join(tokenize(most_common))] * len(references)
    results["baseline_most_common_caption_bleu4"] = bleu(baseline, references)
    return results


def save_artifacts(prepared, run_dir):
    prepared["vocab"].save(run_dir / "vocab.json")
