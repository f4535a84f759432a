"""Clients of exported models: in process, REST and gRPC request building, serving
commands, and (when ``tensorflow_model_server`` is installed) the real server."""

import base64
import json
import shutil
import socket

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqkit import serving
from seqkit.builders import build_many_to_many
from seqkit.export import export_model
from seqkit.generate import Sampler
from tests.test_export import VOCAB, make_run

GENERATE = {"prompt": ["ROMEO.", "", "zß😀"], "length": 12, "temperature": [0.7],
            "seed": [1, 2, 3]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Two versions of one model with different weights; v2 is the latest."""
    root = tmp_path_factory.mktemp("serving")
    base = root / "saved_models"
    models = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        model = build_many_to_many("lstm", 8, VOCAB.size, depth=2, embedding_dim=4,
                                   compile=False)
        export_model(model, VOCAB, base, "lm")
        models.append(model)
    make_run(root / "run", "gru")
    return {"base": base, "models": models, "root": root}


def sampled(model, inputs):
    sampler = Sampler(model, VOCAB)
    prompts = inputs["prompt"]

    def at(key, i):
        value = inputs[key]
        return value if np.ndim(value) == 0 else value[i if len(value) > 1 else 0]

    return [sampler.sample(p, at("length", i), at("temperature", i), 0, at("seed", i))
            for i, p in enumerate(prompts)]


def test_predict_local_serves_the_latest_version_and_broadcasts_single_values(exported):
    base = exported["base"]
    latest = serving.predict_local(base / "lm", "generate", GENERATE)
    assert [t.decode() for t in latest["text"]] == sampled(exported["models"][1], GENERATE)
    first = serving.predict_local(base / "lm" / "1", "serving_default", GENERATE)
    assert [t.decode() for t in first["text"]] == sampled(exported["models"][0], GENERATE)
    assert serving.to_jsonable(first) == {"text": sampled(exported["models"][0], GENERATE)}


def test_predict_local_step_and_vocabulary(exported):
    model = exported["models"][1]
    zeros = np.zeros((2, 8), "float32").tolist()
    tokens = VOCAB.encode("RO")[None].repeat(2, 0)
    inputs = {"token": tokens[:, 0].tolist(), **{f"state_{i}": zeros for i in range(4)}}
    out = serving.predict_local(exported["base"] / "lm", "step", inputs)
    assert sorted(out) == ["logits", "state_0", "state_1", "state_2", "state_3"]
    out = serving.predict_local(exported["base"] / "lm", "step", {
        "token": tokens[:, 1].tolist(), **{k: v.tolist() for k, v in out.items() if k != "logits"}})
    expected = model({"tokens": tokens})["logits"].numpy()[:, 1]
    np.testing.assert_allclose(out["logits"], expected, rtol=1e-5, atol=1e-5)
    chars = serving.predict_local(exported["base"] / "lm", "vocabulary", {})["chars"]
    assert [c.decode() for c in chars] == [VOCAB.oov_char, *VOCAB.chars]


@pytest.mark.parametrize("signature, inputs, match", [
    ("generat", GENERATE, r"Unknown signature 'generat'; valid signatures of .*\['generate', "
                          r"'serving_default', 'step', 'vocabulary'\]"),
    ("generate", {"prompt": ["a"]}, r"missing \['length', 'seed', 'temperature'\]"),
    ("generate", {**GENERATE, "top_k": 3}, r"unknown \['top_k'\]"),
    ("generate", {**GENERATE, "length": "long"}, r"Input 'length' must hold int32 values, "
                                                 r"received 'long'"),
    ("generate", {**GENERATE, "length": -3}, r"rejected the inputs: assertion failed: \[length "
                                             r"must be in \[0, 10000\], received:\] \[-3\]"),
    ("generate", {**GENERATE, "seed": [1, 2]}, r"same number of rows .*'seed': 2"),
    ("vocabulary", {"x": 1}, r"takes the inputs \[\]; received \['x'\]"),
])
def test_predict_local_errors_name_the_value_and_the_choices(exported, signature, inputs, match):
    with pytest.raises(ValueError, match=match):
        serving.predict_local(exported["base"] / "lm", signature, inputs)


def test_predict_local_needs_a_saved_model(tmp_path):
    with pytest.raises(ValueError, match="neither a SavedModel directory"):
        serving.predict_local(tmp_path, "generate", GENERATE)


def test_rest_payload_is_tf_servings_row_format():
    payload = serving.rest_payload({"prompt": ["a", b"\xff\xfe", b"ok"], "length": 5,
                                    "temperature": [0.5], "seed": [1, 2, 3]}, "generate")
    assert payload == {"signature_name": "generate", "instances": [
        {"prompt": "a", "length": 5, "temperature": 0.5, "seed": 1},
        {"prompt": {"b64": base64.b64encode(b"\xff\xfe").decode()}, "length": 5,
         "temperature": 0.5, "seed": 2},
        {"prompt": "ok", "length": 5, "temperature": 0.5, "seed": 3}]}
    json.dumps(payload)
    step = serving.rest_payload({"token": [1, 2], "state_0": np.zeros((2, 3))})
    assert step == {"instances": [{"token": 1, "state_0": [0.0, 0.0, 0.0]},
                                  {"token": 2, "state_0": [0.0, 0.0, 0.0]}]}
    assert serving.rest_payload({}, "vocabulary") == {"signature_name": "vocabulary",
                                                      "inputs": {}}


def test_grpc_request_holds_typed_tensors():
    pytest.importorskip("tensorflow_serving", reason="needs tensorflow-serving-api")
    specs = {"prompt": (tf.string, 1), "length": (tf.int32, 1), "temperature": (tf.float32, 1),
             "seed": (tf.int64, 1)}
    request = serving.grpc_request("lm", GENERATE, specs, "generate", version=2)
    assert (request.model_spec.name, request.model_spec.signature_name,
            request.model_spec.version.value) == ("lm", "generate", 2)
    decoded = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    assert [p.decode() for p in decoded["prompt"]] == GENERATE["prompt"]
    assert decoded["length"].dtype == np.int32 and decoded["length"].tolist() == [12]
    assert decoded["seed"].dtype == np.int64 and decoded["seed"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(decoded["temperature"], [0.7])
    with pytest.raises(ValueError, match=r"missing \['seed'\]"):
        serving.grpc_request("lm", {k: v for k, v in GENERATE.items() if k != "seed"}, specs)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_clients_report_a_missing_server_clearly():
    port = _free_port()  # nothing listens there
    with pytest.raises(ConnectionError, match=f"No TF Serving REST API at http://127.0.0.1:{port}"):
        serving.predict_rest(f"http://127.0.0.1:{port}", "lm", GENERATE, timeout=5)
    pytest.importorskip("tensorflow_serving", reason="needs tensorflow-serving-api")
    with pytest.raises(ConnectionError, match=f"No TF Serving gRPC API at 127.0.0.1:{port}"):
        serving.predict_grpc(f"127.0.0.1:{port}", "lm", GENERATE, timeout=5)


def test_serve_prints_the_docker_command(exported, capsys, monkeypatch):
    base = exported["base"]
    assert serving.docker_command() == (
        'docker run --rm -p 8501:8501 -p 8500:8500 -v "$PWD/saved_models:/models" '
        "tensorflow/serving --model_config_file=/models/models.config")
    assert serving.serve(base, rest_port=9501, grpc_port=9500, print_only=True) == 0
    out = capsys.readouterr().out
    assert (f'docker run --rm -p 9501:8501 -p 9500:8500 -v "{base}:/models" tensorflow/serving '
            "--model_config_file=/models/models.config") in out
    assert "base_path: '/models/lm'" in (base / "models.config").read_text()
    with pytest.raises(ValueError, match="No exported model under"):
        serving.serve(exported["root"] / "empty", print_only=True)
    if shutil.which(serving.SERVER_BINARY) is None:
        assert serving.serve(base) == 0
        assert "is not on PATH" in capsys.readouterr().out
        with pytest.raises(FileNotFoundError, match="docker run"):
            serving.start_server(base)
    command = serving.server_command(base, 9501, 9500, binary="/bin/tms")
    assert command[:3] == ["/bin/tms", "--port=9500", "--rest_api_port=9501"]
    local = (base / serving.LOCAL_CONFIG).read_text()
    assert f"base_path: '{(base / 'lm').resolve()}'" in local


def test_predict_and_serve_from_the_command_line(exported, capsys):
    from seqkit.cli import main

    base = exported["base"]
    assert main(["predict", "--local", str(base / "lm"), "--signature", "generate",
                 "--input", json.dumps(GENERATE)]) == 0
    assert json.loads(capsys.readouterr().out) == {"text": sampled(exported["models"][1],
                                                                   GENERATE)}
    assert main(["predict", "--local", str(base / "lm"), "--signature", "vocabulary"]) == 0
    assert json.loads(capsys.readouterr().out)["chars"][1:] == VOCAB.chars
    assert main(["predict", "--rest", "http://127.0.0.1:1", "--input", "{}"]) == 2
    assert "need --model" in capsys.readouterr().err
    assert main(["predict", "--local", str(base / "lm"), "--input", "[1]"]) == 2
    assert "must be a JSON object" in capsys.readouterr().err
    assert main(["predict", "--local", str(base / "lm"), "--signature", "nope"]) == 2
    assert "valid signatures" in capsys.readouterr().err
    assert main(["predict", "--rest", f"http://127.0.0.1:{_free_port()}", "--model", "lm",
                 "--input", json.dumps(GENERATE)]) == 2
    assert "No TF Serving REST API" in capsys.readouterr().err
    assert main(["serve", "--base", str(base), "--print-only"]) == 0
    assert "tensorflow/serving --model_config_file=/models/models.config" in \
        capsys.readouterr().out


@pytest.mark.skipif(shutil.which(serving.SERVER_BINARY) is None,
                    reason="tensorflow_model_server is not on PATH (not on PyPI or Debian; "
                           "it ships in the tensorflow/serving image): the real-server test "
                           "needs it")
def test_the_real_tf_serving_answers_like_the_in_process_model(exported, tmp_path):
    import subprocess

    pytest.importorskip("tensorflow_serving", reason="needs tensorflow-serving-api")
    base = exported["base"]
    rest_port, grpc_port = _free_port(), _free_port()
    log = open(tmp_path / "tensorflow_model_server.log", "w")
    process = serving.start_server(base, rest_port, grpc_port, stdout=log,
                                   stderr=subprocess.STDOUT)
    url, target = f"http://127.0.0.1:{rest_port}", f"127.0.0.1:{grpc_port}"
    try:
        serving.wait_until_available(url, ["lm"], timeout=120, process=process)
        local = serving.predict_local(base / "lm", "generate", GENERATE)
        texts = serving.to_jsonable(local["text"])
        assert serving.predict_rest(url, "lm", GENERATE, signature="generate") == texts
        assert serving.predict_rest(url, "lm", GENERATE) == texts  # serving_default
        # TF Serving's default policy serves the latest version only: 2.
        assert serving.predict_rest(url, "lm", GENERATE, version=2) == texts
        assert texts == sampled(exported["models"][1], GENERATE)
        by_grpc = serving.predict_grpc(target, "lm", GENERATE, signature="generate")
        assert by_grpc["text"].tolist() == local["text"].tolist()

        zeros = np.zeros((2, 8), "float32").tolist()
        step = {"token": [3, 4], **{f"state_{i}": zeros for i in range(4)}}
        expected = serving.predict_local(base / "lm", "step", step)
        rows = serving.predict_rest(url, "lm", step, signature="step")
        for key, value in expected.items():
            np.testing.assert_allclose([row[key] for row in rows], value, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(
                serving.predict_grpc(target, "lm", step, signature="step")[key], value,
                rtol=1e-6, atol=1e-6)
        chars = serving.predict_grpc(target, "lm", {}, signature="vocabulary")["chars"]
        assert [c.decode() for c in chars] == [VOCAB.oov_char, *VOCAB.chars]
        with pytest.raises(ValueError, match="length must be in"):
            serving.predict_rest(url, "lm", {**GENERATE, "length": -1}, signature="generate")
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
