"""Many-to-one classification: text -> class (sentiment) or frames -> class (image rows)."""

import keras
import tensorflow as tf

from seqkit.builders import build_many_to_one
from seqkit.data.words import WordVocab
from seqkit.metrics import accuracy, majority_baseline
from seqkit.tasks.common import bucketed, labels_of

SOURCES = ("text", "image_rows")


def _text(config):
    from seqkit.data.sentiment import load_sentiment

    data_cfg, train = config["data"], config["train"]
    data = load_sentiment(data_cfg["dataset"], seed=data_cfg["seed"])
    vocab = WordVocab.from_texts(data.train[0], max_size=data_cfg["vocab_size"], min_count=2)
    limit = data_cfg["max_tokens"]

    def encode(texts):
        return [vocab.encode(t)[:limit] or [1] for t in texts]

    splits = {name: (encode(data.split(name)[0]), data.split(name)[1])
              for name in ("train", "validation", "test")}
    datasets = {name: bucketed({"tokens": ids}, {"probabilities": labels}, train["batch_size"],
                               "tokens", shuffle=name == "train", seed=train["seed"])
                for name, (ids, labels) in splits.items()}
    return datasets, splits, data.class_names, {"vocab_size": vocab.size}, vocab


def _image_rows(config):
    from seqkit.data.images import load_fashion_mnist

    data = load_fashion_mnist(seed=config["data"]["seed"])
    batch = config["train"]["batch_size"]
    splits, datasets = {}, {}
    for name in ("train", "validation", "test"):
        images, labels = data.split(name)
        frames = images.astype("float32") / 255.0          # 28 rows of 28 pixels
        splits[name] = (frames, labels)
        dataset = tf.data.Dataset.from_tensor_slices(({"frames": frames},
                                                      {"probabilities": labels}))
        if name == "train":
            dataset = dataset.shuffle(len(labels), seed=config["train"]["seed"])
        datasets[name] = dataset.batch(batch).prefetch(tf.data.AUTOTUNE)
    return datasets, splits, data.class_names, {"input_dim": 28}, None


def prepare(config):
    source = config["data"]["source"]
    if source not in SOURCES:
        raise ValueError(f"Unknown data.source {source!r}; valid choices: {list(SOURCES)}.")
    datasets, splits, class_names, shape, vocab = (_text if source == "text"
                                                   else _image_rows)(config)
    m = config["model"]
    model = build_many_to_one(
        m["cell"], m["units"], len(class_names), depth=m["depth"],
        embedding_dim=m["embedding_dim"], dropout=m["dropout"], connection=m["connection"],
        init=m["init"], cell_kwargs=m["cell_kwargs"], compile=False, name=config["name"],
        **shape)
    return {"model": model, "train": datasets["train"], "validation": datasets["validation"],
            "test": datasets["test"], "splits": splits, "class_names": list(class_names),
            "vocab": vocab, "loss": keras.losses.SparseCategoricalCrossentropy(),
            "metrics": ["accuracy"]}


def evaluate(config, model, prepared):
    """Held-out test accuracy against always predicting the majority training class."""
    probabilities = model.predict(prepared["test"], verbose=0)["probabilities"]
    labels = labels_of(prepared["test"], "probabilities")
    return {
        "test_accuracy": accuracy(labels, probabilities),
        "majority_baseline_accuracy": majority_baseline(prepared["splits"]["train"][1], labels),
        "test_examples": int(len(labels)), "class_names": prepared["class_names"],
    }


def save_artifacts(prepared, run_dir):
    if prepared["vocab"] is not None:
        prepared["vocab"].save(run_dir / "vocab.json")
