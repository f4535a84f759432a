import keras
import numpy as np
import pytest

from seqkit.builders import build_many_to_many
from seqkit.data import CharVocab
from seqkit.generate import Sampler, load_sampler

VOCAB = CharVocab.from_text("abcdefgh \n")


@pytest.fixture(params=["lstm", "gru", "mut1"])
def sampler(request):
    model = build_many_to_many(request.param, 16, VOCAB.size, depth=2, embedding_dim=8,
                               connection="residual", compile=False)
    return Sampler(model, VOCAB)


def test_greedy_sampling_equals_argmax_of_the_full_model(sampler):
    text = sampler.sample("abc", length=12, temperature=1.0, top_k=1, seed=3)
    ids = list(VOCAB.encode("abc"))
    full = keras.Sequential([sampler.encoder, sampler.stack, sampler.logits])
    for _ in range(12):
        logits = keras.ops.convert_to_numpy(full(np.array([ids])))
        ids.append(int(np.argmax(logits[0, -1])))
    assert text == VOCAB.decode(ids[3:])


def test_seeded_sampling_is_reproducible_and_seed_dependent(sampler):
    first = sampler.sample("a", length=40, temperature=1.5, seed=1)
    assert first == sampler.sample("a", length=40, temperature=1.5, seed=1)
    assert len(first) == 40
    assert first != sampler.sample("a", length=40, temperature=1.5, seed=2)


def test_unseen_characters_in_the_prime_do_not_crash(sampler):
    assert len(sampler.sample("zß😀\x00", length=5, seed=0)) == 5
    assert len(sampler.sample("", length=5, seed=0)) == 5


@pytest.mark.parametrize("kwargs, match", [
    ({"temperature": 0.0}, "temperature=0.0"), ({"length": -1}, "length=-1"),
    ({"top_k": -2}, "top_k=-2"), ({"seed": "x"}, "seed='x'"),
])
def test_bad_sampling_arguments(sampler, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sampler.sample("a", **kwargs)


def test_load_sampler_errors_on_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        load_sampler(tmp_path)


def test_xla_compiled_sampler_matches_the_default_loop():
    model = build_many_to_many("lstm", 16, VOCAB.size, depth=2, embedding_dim=8, compile=False)
    default, compiled = Sampler(model, VOCAB), Sampler(model, VOCAB, jit_compile=True)
    assert compiled.sample("ab", 30, top_k=1) == default.sample("ab", 30, top_k=1)
    top3 = compiled.sample("ab", 200, temperature=2.0, top_k=3, seed=5)
    assert len(top3) == 200 and top3 == compiled.sample("ab", 200, temperature=2.0, top_k=3,
                                                        seed=5)
    # top_k=3 leaves at most 3 characters after any given context; greedy top_k=1 exactly one.
    assert len(set(compiled.sample("ab", 50, temperature=5.0, top_k=1, seed=s)
                   for s in range(3))) == 1
