"""Seq2seq translation (many-to-one encoder + one-to-many decoder), with or without attention."""

import keras
import numpy as np

from seqkit.builders import build_seq2seq
from seqkit.data.words import WordVocab, tokenize
from seqkit.generate import SequenceDecoder
from seqkit.metrics import bleu, chrf
from seqkit.tasks.common import bucketed, shifted


def prepare(config):
    from seqkit.data.translation import load_translation_pairs

    d, train = config["data"], config["train"]
    pairs = load_translation_pairs(d["lang"], max_tokens=d["max_tokens"], seed=d["seed"])
    sources, targets = pairs.train
    source_vocab = WordVocab.from_texts(sources, max_size=d["vocab_size"], min_count=2)
    target_vocab = WordVocab.from_texts(targets, max_size=d["vocab_size"], min_count=2)
    datasets = {}
    for name in ("train", "validation", "test"):
        src, tgt = pairs.split(name)
        source_ids = [source_vocab.encode(s) or [1] for s in src]
        target_in, target_out = shifted([target_vocab.encode(t, start_end=True) for t in tgt])
        datasets[name] = bucketed({"source": source_ids, "target_in": target_in},
                                  {"logits": target_out}, train["batch_size"], "source",
                                  shuffle=name == "train", seed=train["seed"])
    m = config["model"]
    model = build_seq2seq(
        m["cell"], m["units"], source_vocab.size, target_vocab.size, depth=m["depth"],
        embedding_dim=m["embedding_dim"], attention=m["attention"], dropout=m["dropout"],
        init=m["init"], cell_kwargs=m["cell_kwargs"], compile=False, name=config["name"])
    return {"model": model, **datasets, "pairs": pairs, "source_vocab": source_vocab,
            "target_vocab": target_vocab,
            "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": None}


def evaluate(config, model, prepared):
    """BLEU and chrF of greedy and beam-search translations of held-out sentences."""
    e = config["eval"]
    sources, targets = prepared["pairs"].test
    pick = np.random.default_rng(0).permutation(len(sources))[:e["examples"]]
    sources, targets = sources[pick], targets[pick]
    source_vocab, target_vocab = prepared["source_vocab"], prepared["target_vocab"]
    source_ids = source_vocab.encode_batch(sources)
    references = [" ".join(tokenize(t)) for t in targets]
    decoder = SequenceDecoder(model, target_vocab.start_id, target_vocab.end_id,
                              e["max_length"])
    results = {"test_examples": len(targets)}
    for mode in ("greedy", "beam"):
        ids = decoder.greedy({"source": source_ids}) if mode == "greedy" else \
            decoder.beam({"source": source_ids}, width=e["beam_width"])
        hypotheses = [target_vocab.decode(seq) for seq in ids]
        results[f"{mode}_bleu"] = bleu(hypotheses, references)
        results[f"{mode}_chrf"] = chrf(hypotheses, references)
        results[f"{mode}_examples"] = [
            {"source": s, "reference": r, "translation": h}
            for s, r, h in zip(sources[:5], references[:5], hypotheses[:5])]
    results["beam_width"] = e["beam_width"]
    copies = [" ".join(tokenize(s)) for s in sources]   # the English left untranslated
    results["baseline_copy_source_bleu"] = bleu(copies, references)
    results["baseline_copy_source_chrf"] = chrf(copies, references)
    return results


def save_artifacts(prepared, run_dir):
    prepared["source_vocab"].save(run_dir / "source_vocab.json")
    prepared["target_vocab"].save(run_dir / "target_vocab.json")
