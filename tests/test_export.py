"""SavedModel export: signatures against the Keras model and the Sampler, TF Serving
layout, versions, atomicity under SIGKILL, and a fuzz test of ``generate``."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from seqkit.builders import build_many_to_many
from seqkit.cells import CELLS
from seqkit.config import recipe_config, save_config
from seqkit.data import CharVocab
from seqkit.export import (
    DEFAULT_MAX_LENGTH,
    SIGNATURE_KEYS,
    clean_stale_temp_dirs,
    export_model,
    export_run,
    list_versions,
    models_config_text,
    resolve_run,
)
from seqkit.generate import Sampler, load_sampler
from tests.cells.util import FAMILY_REPRESENTATIVES, only_in_slow_beyond

VOCAB = CharVocab.from_text("ROMEO.\nJULIET: abcdefgh, ijk; lmnop? qrs!\n")
PROMPTS = ["ROMEO.", "", "zß😀\x00\x07 ab", "a" * 300]


def make_run(run_dir, cell="lstm", units=8, depth=1, embedding_dim=None, connection=None,
             vocab=VOCAB):
    """A run directory as ``seqkit.train`` writes it, with an untrained model."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    model = build_many_to_many(cell, units, vocab.size, depth=depth, embedding_dim=embedding_dim,
                               connection=connection, compile=False, name="char_rnn")
    model.save(run_dir / "model.keras")
    vocab.save(run_dir / "vocab.json")
    save_config(recipe_config("char_rnn", [
        f"model.cell={cell}", f"model.units={units}", f"model.depth={depth}",
        f"model.embedding_dim={embedding_dim}", f"model.connection={connection}"]),
        run_dir / "config.json")
    (run_dir / "metrics.json").write_text(json.dumps({"steps": 0, "vocab_size": vocab.size}))
    return model


def generate(loaded, prompts, length, temperature, seed, signature="generate"):
    out = loaded.signatures[signature](
        prompt=tf.constant(prompts, tf.string), length=tf.constant(length, tf.int32),
        temperature=tf.constant(temperature, tf.float32), seed=tf.constant(seed, tf.int64))
    assert set(out) == {"text"}
    return [t.decode("utf-8") for t in out["text"].numpy()]


def step_logits(loaded, tokens, state_sizes):
    """Runs the ``step`` signature over ``tokens`` (batch, time) from zero states."""
    step = loaded.signatures["step"]
    batch = tokens.shape[0]
    states = {f"state_{i}": tf.zeros([batch, size]) for i, size in enumerate(state_sizes)}
    logits = []
    for t in range(tokens.shape[1]):
        out = step(token=tf.constant(tokens[:, t], tf.int32), **states)
        logits.append(out.pop("logits").numpy())
        assert set(out) == set(states)
        states = out
    return np.stack(logits, axis=1)


def state_sizes(loaded):
    specs = loaded.signatures["step"].structured_input_signature[1]
    names = sorted((k for k in specs if k.startswith("state_")), key=lambda k: int(k[6:]))
    return [specs[k].shape[-1] for k in names]


# Cells x topologies: one-hot or embedded inputs, one or two layers, skip connections.
VARIANTS = {cell: dict(depth=1 + i % 2, embedding_dim=None if i % 3 else 6,
                       connection=(None, "residual", "highway")[i % 3])
            for i, cell in enumerate(sorted(CELLS))}


# `make test` exports one cell per family file (their variants still cover depth 1 and 2,
# an embedding, and no / residual / highway connections); every cell runs with -m slow.
@pytest.mark.parametrize("cell", only_in_slow_beyond(FAMILY_REPRESENTATIVES))
def test_every_cell_exports_signatures_equal_to_keras_and_the_sampler(cell, tmp_path):
    model = make_run(tmp_path / "run", cell, **VARIANTS[cell])
    version = export_run(tmp_path / "run", tmp_path / "saved_models", name="lm")
    assert version == tmp_path / "saved_models" / "lm" / "1"
    loaded = tf.saved_model.load(str(version))
    assert sorted(loaded.signatures) == sorted(SIGNATURE_KEYS)

    # step: logits equal the Keras model's on a whole sequence, states fed back.
    tokens = np.random.default_rng(0).integers(0, VOCAB.size, size=(3, 7)).astype("int32")
    expected = model({"tokens": tokens})["logits"].numpy()
    np.testing.assert_allclose(step_logits(loaded, tokens, state_sizes(loaded)), expected,
                               rtol=1e-5, atol=1e-5)

    # generate: the Sampler's text for the same prompt, length, temperature and seed.
    sampler = Sampler(model, VOCAB)
    lengths, temperatures, seeds = [9, 4, 6, 3], [1.0, 0.5, 2.0, 1.0], [0, 7, 123456789, 2**40]
    texts = generate(loaded, PROMPTS, lengths, temperatures, seeds)
    assert texts == [sampler.sample(p, n, t, 0, s)
                     for p, n, t, s in zip(PROMPTS, lengths, temperatures, seeds)]

    chars = loaded.signatures["vocabulary"]()["chars"].numpy()
    assert [c.decode("utf-8") for c in chars] == [VOCAB.oov_char, *VOCAB.chars]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A really trained tiny run (GRU, 40 steps) exported twice."""
    from seqkit.train import run

    root = tmp_path_factory.mktemp("trained")
    config = recipe_config("char_rnn", [
        "data.corpus=linux", "data.max_chars=20000", "model.cell=gru", "model.units=16",
        "model.depth=2", "model.embedding_dim=8", "train.batch_size=4", "train.seq_length=16",
        "train.max_steps=40", "train.sample_every=0", "train.checkpoint_every=0",
        "train.val_steps=2", "train.verbose=0", f"train.run_dir={root / 'char_rnn'}"])
    model, _ = run(config)
    base = root / "saved_models"
    first = export_run(root / "char_rnn", base)
    return {"root": root, "run": root / "char_rnn", "base": base, "model": model,
            "version": first, "loaded": tf.saved_model.load(str(first))}


def test_a_trained_run_exports_in_tf_serving_layout(trained):
    base, version = trained["base"], trained["version"]
    assert version == base / "char_rnn" / "1"
    for name in ("saved_model.pb", "variables/variables.index", "assets/vocab.json",
                 "assets/config.json", "assets/metrics.json"):
        assert (version / name).exists(), name
    assert list((version / "variables").glob("variables.data-*"))
    for name in ("config.json", "vocab.json", "metrics.json"):  # beside the versions
        assert json.loads((base / "char_rnn" / name).read_text()) == json.loads(
            (trained["run"] / name).read_text())
    assert CharVocab.load(version / "assets" / "vocab.json") == CharVocab.load(
        trained["run"] / "vocab.json")
    assert (base / "models.config").read_text() == (
        "model_config_list {\n  config {\n    name: 'char_rnn'\n"
        "    base_path: '/models/char_rnn'\n    model_platform: 'tensorflow'\n  }\n}\n")
    asset = trained["loaded"].vocab_file.asset_path.numpy().decode()
    assert CharVocab.load(asset) == CharVocab.load(trained["run"] / "vocab.json")


def test_a_trained_run_generates_what_its_sampler_generates(trained):
    sampler = load_sampler(trained["run"])
    prompts = ["#include <", "", "static int", "\u00e9\u4e2d"]
    texts = generate(trained["loaded"], prompts, [40], [0.8], [5], signature="serving_default")
    assert texts == [sampler.sample(p, 40, 0.8, 0, 5) for p in prompts]
    # Greedy-like (tiny temperature) and seeded: the same seed gives the same text.
    again = generate(trained["loaded"], prompts[:1] * 3, [30], [1.0], [11, 11, 12])
    assert again[0] == again[1] != again[2]
    tokens = sampler.vocab.encode("int main(void) {\n\treturn 0;\n}")[None]
    expected = trained["model"]({"tokens": tokens})["logits"].numpy()
    np.testing.assert_allclose(step_logits(trained["loaded"], tokens,
                                           state_sizes(trained["loaded"])), expected,
                               rtol=1e-5, atol=1e-5)


def test_saved_model_cli_lists_the_documented_signatures(trained):
    cli = Path(sys.executable).parent / "saved_model_cli"
    shown = subprocess.run([str(cli), "show", "--all", "--dir", str(trained["version"])],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert shown.returncode == 0, shown.stderr[-2000:]
    out = shown.stdout
    blocks = {key: out.split(f"signature_def['{key}']:")[1].split("signature_def[")[0]
              for key in SIGNATURE_KEYS}
    for key in ("generate", "serving_default"):
        block = blocks[key]
        for name, dtype in [("prompt", "DT_STRING"), ("length", "DT_INT32"),
                            ("temperature", "DT_FLOAT"), ("seed", "DT_INT64")]:
            assert f"inputs['{name}'] tensor_info:\n        dtype: {dtype}\n" \
                   f"        shape: (-1)" in block, (key, name)
        assert "outputs['text'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" \
            in block
    vocab_size = CharVocab.load(trained["run"] / "vocab.json").size
    step = blocks["step"]
    assert "inputs['token'] tensor_info:\n        dtype: DT_INT32\n        shape: (-1)" in step
    assert f"outputs['logits'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, " \
           f"{vocab_size})" in step
    for i in range(2):  # GRU: one state per layer, two layers
        for side in ("inputs", "outputs"):
            assert f"{side}['state_{i}'] tensor_info:\n        dtype: DT_FLOAT\n" \
                   f"        shape: (-1, 16)" in step
    assert "state_2" not in step
    assert f"outputs['chars'] tensor_info:\n        dtype: DT_STRING\n        shape: " \
           f"({vocab_size})" in blocks["vocabulary"]


def test_versions_increase_and_never_overwrite(tmp_path):
    make_run(tmp_path / "run", "gru")
    base = tmp_path / "saved_models"
    first = export_run(tmp_path / "run", base, name="lm")
    fingerprint = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}
    second = export_run(tmp_path / "run", base, name="lm")
    assert (first.name, second.name) == ("1", "2")
    assert {p.relative_to(first): p.read_bytes()
            for p in first.rglob("*") if p.is_file()} == fingerprint
    (base / "lm" / "7").mkdir()            # a version made elsewhere (even an empty one)
    (base / "lm" / "notes").mkdir()        # not an integer: ignored
    assert export_run(tmp_path / "run", base, name="lm").name == "8"
    assert list_versions(base / "lm") == [1, 2, 7, 8]
    export_run(tmp_path / "run", base, name="other-model")
    config = (base / "models.config").read_text()
    assert config.index("name: 'lm'") < config.index("name: 'other-model'")
    assert "base_path: '/models/other-model'" in config
    absolute = models_config_text(base, absolute_paths=True)
    assert f"base_path: '{(base / 'lm').resolve()}'" in absolute
    assert sorted(p.name for p in (base / "lm").iterdir()) == [
        "1", "2", "7", "8", "config.json", "metrics.json", "notes", "vocab.json"]


_EXPORT_LOOP = """
import sys
from seqkit.export import export_run
while True:
    export_run(sys.argv[1], sys.argv[2], name="lm")
"""


def _complete(version_dir):
    return ((version_dir / "saved_model.pb").exists()
            and (version_dir / "variables" / "variables.index").exists()
            and (version_dir / "assets" / "vocab.json").exists())


def test_an_export_killed_mid_write_leaves_no_half_version(tmp_path):
    """A process exporting in a loop is SIGKILLed once its temporary directory holds a file."""
    make_run(tmp_path / "run", "lstm", units=64, depth=2, embedding_dim=16)
    base = tmp_path / "saved_models"
    model_dir = base / "lm"
    process = subprocess.Popen(
        [sys.executable, "-c", _EXPORT_LOOP, str(tmp_path / "run"), str(base)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)
    temp, deadline = None, time.time() + 240
    try:
        while temp is None and time.time() < deadline and process.poll() is None:
            for path in model_dir.glob(f".tmp-{process.pid}-*"):
                if any(p.is_file() for p in path.rglob("*")):
                    temp = path
    finally:
        process.send_signal(signal.SIGKILL)
        _, errors = process.communicate()
    assert temp is not None, f"never caught an export mid-write: {errors[-2000:]!r}"
    # Half-written, under a name TF Serving ignores.
    assert temp.exists() and any(p.is_file() for p in temp.rglob("*"))
    versions = list_versions(model_dir)
    print(f"killed export {len(versions) + 1} while {temp.name} held "
          f"{sorted(str(p.relative_to(temp)) for p in temp.rglob('*'))}")
    assert all(_complete(model_dir / str(v)) for v in versions), versions

    # The next export removes the stale temporary directory and takes the next number.
    version = export_run(tmp_path / "run", base, name="lm")
    assert int(version.name) == (versions[-1] if versions else 0) + 1 and _complete(version)
    assert not [p for p in model_dir.iterdir() if p.name.startswith(".tmp-")]
    assert list_versions(model_dir) == [*versions, int(version.name)]
    tf.saved_model.load(str(version))


def test_only_stale_temporary_directories_are_cleaned(tmp_path):
    live = tmp_path / f".tmp-{os.getpid()}-abc"      # this process: an export in progress
    dead = tmp_path / ".tmp-999999999-abc"            # no such process
    odd = tmp_path / ".tmp-garbage"
    for path in (live, dead, odd):
        path.mkdir()
    assert sorted(clean_stale_temp_dirs(tmp_path)) == sorted([dead, odd])
    assert live.exists()
    os.utime(live, (time.time() - 2 * 86400,) * 2)
    assert clean_stale_temp_dirs(tmp_path) == [live]


def _odd_strings(rng, count):
    """Empty, long, unseen Unicode, control characters, invalid UTF-8, as bytes."""
    planes = [(0x20, 0x7F), (0x80, 0x800), (0x800, 0xD800), (0xE000, 0x10000),
              (0x10000, 0x110000)]
    out = [b"", b"\n", b"\x00", b"ROMEO.", ("a" * 20_000).encode(),
           bytes(range(256)), b"\xff\xfe\xfd", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80",
           "\U0010ffff\ufffd\ufeff\u202e".encode(), ("e\u0301" * 50).encode()]
    while len(out) < count:
        kind = rng.randrange(5)
        n = rng.choice([0, 1, 2, 5, 20, 60])
        if kind == 0:  # random code points, any plane
            text = "".join(chr(rng.randrange(*rng.choice(planes))) for _ in range(n))
            out.append(text.encode("utf-8"))
        elif kind == 1:  # control characters
            out.append("".join(chr(rng.choice([*range(32), 127, *range(0x80, 0xA0)]))
                               for _ in range(n)).encode("utf-8"))
        elif kind == 2:  # random bytes (mostly invalid UTF-8)
            out.append(bytes(rng.randrange(256) for _ in range(n)))
        elif kind == 3:  # vocabulary text with a truncated multibyte sequence inside
            text = "".join(rng.choice(VOCAB.chars) for _ in range(n)).encode("utf-8")
            out.append(text[: n // 2] + "ß€😀".encode()[:rng.randrange(1, 9)]
                       + text[n // 2:])
        else:  # in-vocabulary text
            out.append("".join(rng.choice(VOCAB.chars) for _ in range(n)).encode("utf-8"))
    return out


@pytest.fixture(scope="module")
def lstm_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("lstm")
    model = make_run(root / "run", "lstm", units=8, depth=2, embedding_dim=4)
    version = export_run(root / "run", root / "saved_models", name="lm")
    return {"model": model, "loaded": tf.saved_model.load(str(version)), "version": version,
            "base": root / "saved_models", "run": root / "run"}


def test_fuzz_generate_with_thousands_of_odd_strings(lstm_export):
    rng = random.Random(0)
    strings = _odd_strings(rng, 3000)
    signature = lstm_export["loaded"].signatures["generate"]
    texts = []
    for start in range(0, len(strings), 500):  # mixed batches of everything
        batch = strings[start:start + 500]
        out = signature(prompt=tf.constant(batch, tf.string), length=tf.constant([2]),
                        temperature=tf.constant([1.0]),
                        seed=tf.constant(np.arange(start, start + len(batch)), tf.int64))
        texts += list(out["text"].numpy())
    assert len(texts) == len(strings)
    allowed = {VOCAB.oov_char, *VOCAB.chars}
    for text in texts:
        decoded = text.decode("utf-8")  # always valid UTF-8
        assert len(decoded) == 2 and set(decoded) <= allowed, decoded
    # Valid prompts: exactly the Sampler's text (the in-graph tokeniser is CharVocab.encode).
    sampler = Sampler(lstm_export["model"], VOCAB)
    checked = 0
    for i, raw in enumerate(strings):
        try:
            prompt = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if i % 15 == 0 or len(prompt) > 1000:
            assert texts[i].decode("utf-8") == sampler.sample(prompt, 2, 1.0, 0, i), repr(prompt)
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("inputs, match", [
    ({"length": [-1]}, r"length must be in \[0, 10000\], received:\] \[-1\]"),
    ({"length": [DEFAULT_MAX_LENGTH + 1]}, r"length must be in \[0, 10000\]"),
    ({"temperature": [0.0]}, r"temperature must be a finite number > 0, received:\] \[0\]"),
    ({"temperature": [float("nan")]}, r"temperature must be a finite number > 0"),
    ({"temperature": [-1.0]}, r"temperature must be a finite number > 0"),
    ({"seed": [1, 2, 3]}, r"seed must hold one value per prompt or a single value; "
                          r"prompts:\] \[2\] \[seed values received:\] \[3\]"),
])
def test_bad_generate_inputs_are_clear_errors(lstm_export, inputs, match):
    args = {"prompt": tf.constant(["ab", "c"]), "length": tf.constant([3]),
            "temperature": tf.constant([1.0]), "seed": tf.constant([0], tf.int64)}
    args.update({k: tf.constant(v, args[k].dtype) for k, v in inputs.items()})
    with pytest.raises(tf.errors.InvalidArgumentError, match=match):
        lstm_export["loaded"].signatures["generate"](**args)


def test_generate_edge_cases(lstm_export):
    loaded = lstm_export["loaded"]
    assert generate(loaded, [], [5], [1.0], [0]) == []
    assert generate(loaded, ["ab", "cd"], [0], [1.0], [0]) == ["", ""]
    sampler = Sampler(lstm_export["model"], VOCAB)
    long_prompt = "ROMEO. " * 3000  # 21,000 characters of priming
    assert generate(loaded, [long_prompt], [5], [1.0], [3]) == [
        sampler.sample(long_prompt, 5, 1.0, 0, 3)]


def test_bad_step_inputs_are_clear_errors(lstm_export):
    step = lstm_export["loaded"].signatures["step"]
    states = {f"state_{i}": tf.zeros([2, 8]) for i in range(4)}
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"token ids must be in \[0, {VOCAB.size}\), received:\] \[1 99\]"):
        step(token=tf.constant([1, 99]), **states)
    states["state_3"] = tf.zeros([3, 8])
    with pytest.raises(tf.errors.InvalidArgumentError, match="state_3 must have one row per"):
        step(token=tf.constant([1, 2]), **states)


def test_export_errors_name_the_value(tmp_path, lstm_export):
    with pytest.raises(ValueError, match="not a trained run directory: missing"):
        export_run(tmp_path)
    with pytest.raises(ValueError, match="Invalid model name 'a b'"):
        export_run(lstm_export["run"], tmp_path / "saved_models", name="a b")
    with pytest.raises(ValueError, match="Invalid model name '12'"):
        export_model(lstm_export["model"], VOCAB, tmp_path / "saved_models", name="12")
    with pytest.raises(ValueError, match="max_length must be a positive int, received 0"):
        export_run(lstm_export["run"], tmp_path / "saved_models", max_length=0)
    assert not list((tmp_path / "saved_models").glob("*/.tmp-*"))
    other = tmp_path / "classifier"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"task": "repeated_ones"}))
    with pytest.raises(ValueError, match=r"task 'repeated_ones' cannot be exported yet; tasks "
                                         r"with an exporter: \['caption', 'char_lm', 'classify', "
                                         r"'translate'\]"):
        export_run(other, tmp_path / "saved_models")
    with pytest.raises(ValueError, match=r"neither a run directory nor a recipe; valid "
                                         r"recipes: \[.*'char_rnn'"):
        resolve_run("no_such_thing", runs_dir=tmp_path)
    with pytest.raises(ValueError, match="has no run directory"):
        resolve_run("char_rnn", runs_dir=tmp_path)
    (tmp_path / "char_rnn").mkdir()
    assert resolve_run("char-rnn", runs_dir=tmp_path) == tmp_path / "char_rnn"


def test_export_from_the_command_line(lstm_export, tmp_path, capsys):
    from seqkit.cli import main

    base = tmp_path / "saved_models"
    assert main(["export", str(lstm_export["run"]), "--base", str(base), "--name", "cli"]) == 0
    assert "exported" in capsys.readouterr().out
    assert list_versions(base / "cli") == [1]
    assert main(["export", "no_such_recipe", "--base", str(base)]) == 2
    assert "valid recipes" in capsys.readouterr().err
