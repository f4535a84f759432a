"""Calling exported models: in process, over TF Serving's REST and gRPC APIs; serving them.

Inputs are given by column, as a dict ``{input key: values}`` with one value
per batch row; ``generate`` applies a single ``length``, ``temperature`` or
``seed`` (a number or a one-element list) to every prompt::

    predict_local("saved_models/char_rnn", "generate",
                  {"prompt": ["ROMEO.", ""], "length": 100, "temperature": 0.8, "seed": 7})
    predict_rest("http://localhost:8501", "char_rnn", {...}, signature="generate")
    predict_grpc("localhost:8500", "char_rnn", {...}, signature="generate")

``serve()`` starts ``tensorflow_model_server`` on every model exported under
``saved_models/`` when that binary is on PATH; otherwise it prints the
``docker run ... tensorflow/serving`` command that does (the binary ships in
TF Serving's container image and Debian packages of Google's apt repository,
not on PyPI).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import tensorflow as tf

from seqkit.export import (
    CONTAINER_ROOT,
    DEFAULT_BASE,
    MODELS_CONFIG,
    exported_models,
    latest_version_dir,
    write_models_config,
)

LOCAL_CONFIG = "models.local.config"
SERVER_BINARY = "tensorflow_model_server"
DOCKER_IMAGE = "tensorflow/serving"

_LOADED = {}


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

def _rows(inputs):
    """The batch size of column-wise ``inputs`` (single values count as broadcastable)."""
    if not isinstance(inputs, dict):
        raise ValueError(f"inputs must be a dict {{input key: values}}, received "
                         f"{type(inputs).__name__}: {inputs!r:.200}")
    sizes = {key: len(value) for key, value in inputs.items() if _is_column(value)}
    many = {size for size in sizes.values() if size != 1}
    if len(many) > 1:
        raise ValueError(f"inputs must have the same number of rows (or a single value), "
                         f"received rows per key {sizes}.")
    return many.pop() if many else 1


def _is_column(value):
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0)


def _check_keys(inputs, valid, where):
    received, valid = set(inputs), set(valid)
    if received != valid:
        raise ValueError(
            f"{where} takes the inputs {sorted(valid)}; received {sorted(received)} "
            f"(missing {sorted(valid - received)}, unknown {sorted(received - valid)}).")


def _column(value, rank):
    """``value`` with its batch dimension: a single value becomes one row (``generate``
    applies a one-row ``length``, ``temperature`` or ``seed`` to every prompt)."""
    array = np.asarray(value, dtype=object if _is_text(value) else None)
    if rank is not None and rank > 0 and array.ndim == rank - 1:
        array = array[None]
    return array


def _is_text(value):
    if isinstance(value, (str, bytes)):
        return True
    if isinstance(value, (list, tuple)) and value:
        return _is_text(value[0])
    return False


def _tensor(array, key, dtype, received=None):
    try:
        if dtype == tf.string:
            flat = [v.encode("utf-8", "surrogatepass") if isinstance(v, str) else v
                    for v in np.asarray(array, dtype=object).reshape(-1)]
            return tf.reshape(tf.constant(flat, tf.string), np.shape(array))
        return tf.constant(np.asarray(array), dtype=dtype)
    except (TypeError, ValueError, tf.errors.InvalidArgumentError) as error:
        received = array.tolist() if received is None else received
        raise ValueError(f"Input {key!r} must hold {dtype.name} values, received "
                         f"{received!r:.200} ({error}).") from error


def to_jsonable(outputs):
    """Signature outputs (NumPy arrays / tensors) as JSON values; bytes read as UTF-8."""
    if isinstance(outputs, dict):
        return {key: to_jsonable(value) for key, value in outputs.items()}
    if isinstance(outputs, tf.Tensor):
        outputs = outputs.numpy()
    if isinstance(outputs, np.ndarray):
        return to_jsonable(outputs.tolist())
    if isinstance(outputs, (list, tuple)):
        return [to_jsonable(value) for value in outputs]
    if isinstance(outputs, bytes):
        return outputs.decode("utf-8", "replace")
    if isinstance(outputs, np.generic):
        return outputs.item()
    return outputs


# ---------------------------------------------------------------------------
# In process
# ---------------------------------------------------------------------------

def load(saved_model_dir):
    """The loaded SavedModel (cached per version directory).

    ``saved_model_dir`` is a version directory or a model base path (its
    highest version is used, as TF Serving does).
    """
    path = latest_version_dir(saved_model_dir).resolve()
    key = (str(path), (path / "saved_model.pb").stat().st_mtime_ns)
    if key not in _LOADED:
        _LOADED[key] = tf.saved_model.load(str(path))
    return _LOADED[key]


def signature_function(saved_model_dir, signature="serving_default"):
    loaded = load(saved_model_dir)
    if signature not in loaded.signatures:
        raise ValueError(f"Unknown signature {signature!r}; valid signatures of "
                         f"{str(saved_model_dir)!r}: {sorted(loaded.signatures)}.")
    return loaded.signatures[signature]


def predict_local(saved_model_dir, signature="serving_default", inputs=None):
    """Calls a signature of an exported model in this process.

    Args:
        saved_model_dir: A version directory, or a model base path (latest version).
        signature: Signature key (``serving_default``, ``generate``, ``step``,
            ``vocabulary``).
        inputs: ``{input key: values}`` by column; single values apply to every row.

    Returns:
        ``{output key: numpy array}`` (strings as ``bytes``; see ``to_jsonable``).
    """
    function = signature_function(saved_model_dir, signature)
    specs = function.structured_input_signature[1]
    inputs = dict(inputs or {})
    _check_keys(inputs, specs, f"Signature {signature!r}")
    _rows(inputs)
    tensors = {key: _tensor(_column(inputs[key], spec.shape.rank), key, spec.dtype, inputs[key])
               for key, spec in specs.items()}
    try:
        outputs = function(**tensors)
    except tf.errors.InvalidArgumentError as error:
        raise ValueError(f"Signature {signature!r} rejected the inputs: "
                         f"{graph_error_message(error)}") from error
    return {key: value.numpy() for key, value in outputs.items()}


def graph_error_message(error):
    """The informative line of a TensorFlow graph error (an assertion's message)."""
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines()]
    for line in lines:
        if line.startswith("assertion failed"):
            return line
    useful = [line for line in lines if line and not line.startswith(
        ("Graph execution error", "Detected at node", "<stack traces", "[[", "File "))]
    return useful[0] if useful else str(error)


# ---------------------------------------------------------------------------
# REST
# ---------------------------------------------------------------------------

def _json_value(value):
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def rest_payload(inputs, signature=None):
    """The JSON body of a TF Serving REST ``:predict`` request, in the row ("instances")
    format; a signature without inputs is asked in the columnar format (``{"inputs": {}}``)."""
    payload = {} if signature is None else {"signature_name": signature}
    inputs = dict(inputs or {})
    if not inputs:
        payload["inputs"] = {}
        return payload
    count = _rows(inputs)
    columns = {}
    for key, value in inputs.items():
        column = value if _is_column(value) else [value]
        columns[key] = list(column) * count if len(column) == 1 else list(column)
    payload["instances"] = [{key: _json_value(columns[key][row]) for key in columns}
                            for row in range(count)]
    return payload


def predict_rest(url, model, inputs, signature=None, version=None, timeout=60.0):
    """Posts ``inputs`` to TF Serving's REST API and returns its ``predictions``.

    Args:
        url: Server root, e.g. ``http://localhost:8501``.
        model: Model name (``saved_models/<name>``).
        inputs: ``{input key: values}`` by column (sent as ``"instances"`` rows).
        signature: Signature key; None for ``serving_default``.
        version: A version number; None for the latest.
        timeout: Seconds to wait for the answer.

    Returns:
        TF Serving's ``predictions``: one value per row for a signature with one
        output (``generate``), one ``{output key: value}`` per row otherwise; for a
        signature without inputs (``vocabulary``), its ``outputs``.

    Raises:
        ValueError: The server rejected the request (its message is included).
        ConnectionError: Nothing answers at ``url``.
    """
    path = f"/v1/models/{model}" + (f"/versions/{int(version)}" if version is not None else "")
    endpoint = url.rstrip("/") + path + ":predict"
    body = json.dumps(rest_payload(inputs, signature)).encode("utf-8")
    request = urllib.request.Request(endpoint, data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise ValueError(f"TF Serving at {endpoint} answered HTTP {error.code}: {detail}") \
            from error
    except urllib.error.URLError as error:
        raise ConnectionError(f"No TF Serving REST API at {url} ({error.reason}); start one "
                              "with `seqkit serve`.") from error
    return answer["predictions"] if "predictions" in answer else answer["outputs"]


def rest_status(url, model, timeout=5.0):
    """TF Serving's model status (``GET /v1/models/<model>``), or None when unreachable."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/v1/models/{model}",
                                    timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError):
        return None


# ---------------------------------------------------------------------------
# gRPC
# ---------------------------------------------------------------------------

def _grpc():
    try:
        import grpc
        from tensorflow_serving.apis import (
            get_model_metadata_pb2,
            predict_pb2,
            prediction_service_pb2_grpc,
        )
    except ImportError as error:
        raise ImportError("predict_grpc needs tensorflow-serving-api: pip install --no-deps "
                          "tensorflow-serving-api==2.21.0") from error
    return grpc, get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc


def grpc_request(model, inputs, input_specs, signature=None, version=None):
    """A ``PredictRequest`` for ``inputs``, typed by ``input_specs``.

    Args:
        input_specs: ``{input key: (tf.DType, rank or None)}`` of the signature.
    """
    _, _, predict_pb2, _ = _grpc()
    inputs = dict(inputs or {})
    _check_keys(inputs, input_specs, f"Signature {signature or 'serving_default'!r}")
    _rows(inputs)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature or "serving_default"
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, (dtype, rank) in input_specs.items():
        tensor = _tensor(_column(inputs[key], rank), key, dtype, inputs[key])
        request.inputs[key].CopyFrom(tf.make_tensor_proto(tensor))
    return request


def grpc_input_specs(stub, model, signature=None, version=None, timeout=30.0):
    """``{input key: (dtype, rank)}`` of a served signature, from the model's metadata."""
    _, get_model_metadata_pb2, _, _ = _grpc()
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = int(version)
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, timeout)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    key = signature or "serving_default"
    if key not in signatures.signature_def:
        raise ValueError(f"Unknown signature {key!r}; valid signatures of {model!r}: "
                         f"{sorted(signatures.signature_def)}.")
    specs = {}
    for name, info in signatures.signature_def[key].inputs.items():
        shape = info.tensor_shape
        specs[name] = (tf.dtypes.as_dtype(info.dtype),
                       None if shape.unknown_rank else len(shape.dim))
    return specs


def predict_grpc(target, model, inputs, signature=None, version=None, timeout=60.0):
    """Calls a signature over TF Serving's gRPC API.

    Args:
        target: ``host:port`` of the gRPC API (8500 by default).
        model: Model name.
        inputs: ``{input key: values}`` by column; typed from the served
            signature (fetched with ``GetModelMetadata``).
        signature: Signature key; None for ``serving_default``.
        version: A version number; None for the latest.

    Returns:
        ``{output key: numpy array}``.

    Raises:
        ValueError: Unknown signature or inputs, or the server rejected them.
        ConnectionError: Nothing answers at ``target``.
    """
    grpc, _, _, prediction_service_pb2_grpc = _grpc()
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            specs = grpc_input_specs(stub, model, signature, version, timeout)
            request = grpc_request(model, inputs, specs, signature, version)
            response = stub.Predict(request, timeout)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                raise ConnectionError(f"No TF Serving gRPC API at {target} "
                                      f"({error.details()}); start one with `seqkit serve`.") \
                    from error
            raise ValueError(f"TF Serving at {target} answered {error.code().name}: "
                             f"{error.details()}") from error
    return {key: tf.make_ndarray(value) for key, value in response.outputs.items()}


# ---------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------

def docker_command(base=DEFAULT_BASE, rest_port=8501, grpc_port=8500):
    """The ``docker run`` command serving every model under ``base`` with TF Serving."""
    source = f"$PWD/{base}" if not os.path.isabs(base) else str(base)
    return (f"docker run --rm -p {rest_port}:8501 -p {grpc_port}:8500 "
            f"-v \"{source.rstrip('/')}:{CONTAINER_ROOT}\" {DOCKER_IMAGE} "
            f"--model_config_file={CONTAINER_ROOT}/{MODELS_CONFIG}")


def server_command(base=DEFAULT_BASE, rest_port=8501, grpc_port=8500, binary=None):
    """The ``tensorflow_model_server`` command line (writes its absolute-path config)."""
    config = write_models_config(base, Path(base) / LOCAL_CONFIG, absolute_paths=True)
    return [binary or SERVER_BINARY, f"--port={grpc_port}", f"--rest_api_port={rest_port}",
            f"--model_config_file={config.resolve()}"]


def _require_models(base):
    models = exported_models(base)
    if not models:
        raise ValueError(f"No exported model under {str(base)!r}; export a run first: "
                         "seqkit export RUN_DIR_OR_RECIPE.")
    return models


def start_server(base=DEFAULT_BASE, rest_port=8501, grpc_port=8500, binary=None, **popen):
    """Starts ``tensorflow_model_server`` on the models under ``base``; returns the process."""
    _require_models(base)
    binary = binary or shutil.which(SERVER_BINARY)
    if not binary:
        raise FileNotFoundError(f"{SERVER_BINARY} is not on PATH; run TensorFlow Serving's "
                                f"container instead:\n{docker_command(base, rest_port, grpc_port)}")
    return subprocess.Popen(server_command(base, rest_port, grpc_port, binary), **popen)


def wait_until_available(url, models, timeout=60.0, process=None):
    """Waits until TF Serving reports every model in ``models`` AVAILABLE."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{SERVER_BINARY} exited with code {process.returncode}.")
        states = [rest_status(url, model) for model in models]
        if all(s and any(v.get("state") == "AVAILABLE" for v in s.get("model_version_status", []))
               for s in states):
            return True
        time.sleep(0.25)
    raise TimeoutError(f"Models {models} not AVAILABLE at {url} after {timeout} s.")


def serve(base=DEFAULT_BASE, rest_port=8501, grpc_port=8500, print_only=False):
    """Serves every model exported under ``base`` with TensorFlow Serving.

    Runs ``tensorflow_model_server`` (REST on ``rest_port``, gRPC on
    ``grpc_port``) until interrupted when it is on PATH; otherwise, or with
    ``print_only``, prints the equivalent ``docker run`` command. Returns the
    exit status.
    """
    models = _require_models(base)
    write_models_config(base)
    binary = shutil.which(SERVER_BINARY)
    if print_only or not binary:
        if not binary:
            print(f"{SERVER_BINARY} is not on PATH (it is not on PyPI; it ships in the "
                  f"{DOCKER_IMAGE} image). Serve {models} with:")
        print(docker_command(base, rest_port, grpc_port))
        print(f"then: seqkit predict --rest http://localhost:{rest_port} --model {models[0]} "
              "--input '{...}'")
        return 0
    process = start_server(base, rest_port, grpc_port, binary)
    print(f"serving {models}: REST http://localhost:{rest_port}/v1/models/<name>:predict, "
          f"gRPC localhost:{grpc_port} (Ctrl-C stops)", flush=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        return 0
