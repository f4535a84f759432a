"""Tiny trained runs shared by the visualisation tests (trained once per session)."""

import json

import keras
import numpy as np
import pytest

C_SNIPPET = '''/* tiny driver */
static int probe(struct dev *d, int n)
{
	int i; // counter
	if (n > 0) {
		for (i = 0; i < n; i++) {
			d->buf[i] = "x[i]";
		}
	}
	if (d->flags & (1 << 3))
		return -1;
	printf("probe %d\\n", n);
	return 0;
}
'''


def code_text(repeats=30, seed=0):
    """C-like text with comments, quotes, nested brackets and if statements."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(repeats):
        name = "".join(rng.choice(list("abcdefgh"), size=4))
        parts.append(C_SNIPPET.replace("probe", f"probe_{name}").replace("3", str(k % 7)))
    return "".join(parts)


@pytest.fixture(scope="session")
def char_run(tmp_path_factory):
    """A 2-layer LSTM 8 char LM trained for a few steps on C-like text (a real run dir)."""
    from seqkit.config import recipe_config
    from seqkit.train import run

    root = tmp_path_factory.mktemp("char_run")
    corpus = root / "corpus.c"
    corpus.write_text(code_text())
    keras.utils.set_random_seed(0)
    config = recipe_config("char_rnn", [
        f"data.corpus={corpus}", "model.units=8", "train.batch_size=4",
        "train.seq_length=20", "train.max_steps=6", "train.checkpoint_every=0",
        "train.sample_every=0", "train.val_steps=1", "train.verbose=0",
        "sample.length=10", f"train.run_dir={root / 'run'}"])
    run(config)
    return root / "run"


@pytest.fixture(scope="session")
def sentiment_run(tmp_path_factory):
    """A token classifier (LSTM 8) fitted briefly on synthetic sentences, saved as a run."""
    from seqkit.builders import build_many_to_one
    from seqkit.data.words import WordVocab

    root = tmp_path_factory.mktemp("sentiment_run")
    texts = ["good great fun", "bad awful sad", "good fun day", "sad bad day",
             "great day", "awful day"] * 8
    labels = np.array([1, 0, 1, 0, 1, 0] * 8)
    vocab = WordVocab.from_texts(texts)
    ids = vocab.encode_batch(texts)
    keras.utils.set_random_seed(0)
    model = build_many_to_one("lstm", 8, 2, vocab_size=vocab.size, embedding_dim=8)
    model.fit({"tokens": ids}, {"probabilities": labels}, epochs=3, batch_size=16, verbose=0)
    model.save(root / "model.keras")
    vocab.save(root / "vocab.json")
    (root / "config.json").write_text(json.dumps({
        "name": "sentiment", "task": "classify", "data": {"source": "text"},
        "model": {"cell": "lstm"}}))
    (root / "metrics.json").write_text(json.dumps({"class_names": ["negative", "positive"]}))
    (root / "history.json").write_text(json.dumps({"loss": [0.7, 0.6, 0.5],
                                                   "val_loss": [0.7, 0.65, 0.6]}))
    return root


@pytest.fixture(scope="session")
def caption_run(tmp_path_factory):
    """A tiny captioner (16x16 images, LSTM 8) fitted briefly on synthetic captions."""
    from seqkit.builders import build_one_to_many
    from seqkit.data.words import WordVocab

    root = tmp_path_factory.mktemp("caption_run")
    rng = np.random.default_rng(0)
    images = np.zeros((32, 16, 16, 1), np.uint8)
    captions = []
    for k in range(32):
        left = k % 2 == 0
        images[k, 4:12, (0 if left else 8):(8 if left else 16)] = 255
        captions.append("a square on the left" if left else "a square on the right")
    images = np.clip(images + rng.integers(0, 30, images.shape), 0, 255).astype(np.uint8)
    vocab = WordVocab.from_texts(captions)
    ids = vocab.encode_batch(captions, start_end=True)
    keras.utils.set_random_seed(0)
    model = build_one_to_many("lstm", 8, vocab.size, (16, 16, 1), embedding_dim=8,
                              features=8, encoder_filters=(4,))
    model.fit({"image": images, "tokens": ids[:, :-1]}, {"logits": ids[:, 1:]}, epochs=2,
              batch_size=16, verbose=0)
    model.save(root / "model.keras")
    vocab.save(root / "vocab.json")
    (root / "config.json").write_text(json.dumps({
        "name": "caption", "task": "caption", "model": {"cell": "lstm"},
        "eval": {"max_length": 8}}))
    np.save(root / "image.npy", images[0])
    return root
