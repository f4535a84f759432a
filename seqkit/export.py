"""SavedModel export of trained runs in TensorFlow Serving's layout.

``export_run(run_dir)`` turns a run directory (``model.keras``, ``vocab.json``,
``config.json``, ``metrics.json``) into the next version of a servable model::

    saved_models/
      models.config            # every exported model, for --model_config_file
      char_rnn/                # the model's base path
        config.json            # recipe config, vocabulary and metrics of the
        vocab.json             #   latest version (TF Serving ignores these)
        metrics.json
        1/                     # versions: integers that only increase
          saved_model.pb
          variables/
          assets/              # vocab.json, config.json, metrics.json
        2/ ...

A version is written into a temporary directory beside the versions whose name
is not an integer (``.tmp-<pid>-<hex>``, which TF Serving ignores), flushed to
disk, then renamed to its number in one ``os.rename``: a server never sees a
half-written version, and an export killed at any moment leaves only a
temporary directory, which the next export removes (the temporary directories
of exports still running are left alone). Versions are never
overwritten: the next one is the largest existing number plus one.

``models.config`` lists ``base_path: '/models/<name>'``: it assumes the
TensorFlow Serving container with ``saved_models/`` mounted at ``/models``::

    docker run -p 8501:8501 -p 8500:8500 -v "$PWD/saved_models:/models" \\
        tensorflow/serving --model_config_file=/models/models.config

(``absolute_paths=True`` writes the local absolute paths instead, for a
``tensorflow_model_server`` binary run on this machine.)

``export_module`` is that machinery for any ``tf.Module``; ``EXPORTERS`` maps a
run's task (``config.json``'s ``task``) to the function exporting it (``char_lm``
here; ``classify``, ``caption`` and ``translate`` in ``seqkit.export_tasks``, whose
docstring lists their signatures).

Signatures of a character language model (keys are stable; B is the batch, V the
vocabulary size including the out-of-vocabulary id 0, S the number of states):

* ``serving_default``: the same function as ``generate``.
* ``generate``: ``prompt`` string [B], ``length`` int32 [B], ``temperature``
  float32 [B], ``seed`` int64 [B] -> ``text`` string [B].
* ``step``: ``token`` int32 [B], ``state_0`` ... ``state_{S-1}`` float32
  [B, units] -> ``logits`` float32 [B, V], ``state_0`` ... ``state_{S-1}``
  (start from zeros; feed the returned states back).
* ``vocabulary``: no inputs -> ``chars`` string [V] (``chars[i]`` is id ``i``).

``length``, ``temperature`` and ``seed`` hold one value per prompt, or a single
value for all of them. ``generate`` runs ``seqkit.generate.Sampler``'s own
compiled loop on each prompt: the text equals ``Sampler.sample(prompt, length,
temperature, top_k=0, seed=seed)`` (the prompt is not repeated; an empty prompt
starts from a newline; characters outside the vocabulary, and bytes that are not
UTF-8, which become U+FFFD, read as the out-of-vocabulary id 0).

Example:
    >>> path = export_run("runs/char_rnn")          # saved_models/char_rnn/<n>
    >>> from seqkit.serving import predict_local
    >>> predict_local(path, "generate", {"prompt": ["ROMEO."], "length": [200],
    ...                                  "temperature": [0.8], "seed": [1]})
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import tensorflow as tf

DEFAULT_BASE = "saved_models"
DEFAULT_MAX_LENGTH = 10_000
CONTAINER_ROOT = "/models"
MODELS_CONFIG = "models.config"
TEMP_PREFIX = ".tmp-"
STALE_AFTER_S = 24 * 3600
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

GENERATE_INPUTS = {"prompt": tf.string, "length": tf.int32, "temperature": tf.float32,
                   "seed": tf.int64}
"""Input keys and dtypes of ``generate`` (and ``serving_default``); each has shape [B]."""
SIGNATURE_KEYS = ("serving_default", "generate", "step", "vocabulary")
_SEED_MODULUS = 2**31 - 1  # Sampler.sample's seed % (2**31 - 1)


# ---------------------------------------------------------------------------
# The exported module
# ---------------------------------------------------------------------------

def _assert(condition, *data):
    """A graph assertion whose message carries the received values."""
    return tf.debugging.Assert(condition, list(data), summarize=20)


class _Untracked:
    """A plain holder: what it holds is not saved as part of the module."""

    def __init__(self, **items):
        self.__dict__.update(items)


class LanguageModelExport(tf.Module):
    """The servable functions of a character language model.

    Args:
        model: A many-to-many model from ``seqkit.builders.build_many_to_many``
            (layers ``one_hot``/``embedding``, ``recurrent``, ``logits``).
        vocab: Its ``seqkit.data.CharVocab``.
        max_length: Largest ``length`` ``generate`` accepts (a guard against
            requests that would hold a server for minutes).
    """

    def __init__(self, model, vocab, max_length=DEFAULT_MAX_LENGTH):
        from seqkit.generate import Sampler

        super().__init__(name="seqkit_char_lm")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be a positive int, received {max_length!r}.")
        self._sampler = Sampler(model, vocab)  # a plain object: the model is not tracked
        self.model_variables = list(model.variables)
        self._vocab_size = vocab.size
        self._max_length = max_length
        # The Keras lookup layers are kept out of the tracked attributes (tracing their
        # saving functions costs seconds); their hash tables are what the graph needs.
        self._layers = _Untracked(char_to_id=vocab.lookup_layer(name="char_to_id"),
                                  id_to_char=vocab.inverse_layer(name="id_to_char"))
        self.lookup_tables = [self._layers.char_to_id.lookup_table,
                              self._layers.id_to_char.lookup_table]
        self._chars = [vocab.oov_char, *vocab.chars]
        stack = self._sampler.stack
        zeros = stack.initial_state(1)
        self.state_sizes = [int(state.shape[-1]) for state in zeros]
        self._state_dtypes = [state.dtype for state in zeros]
        # The functions are saved as signatures only (as attributes too, saving would
        # trace each of them a second time).
        self._functions = _Untracked(
            generate=tf.function(self._generate, input_signature=[
                tf.TensorSpec([None], dtype, name=key) for key, dtype in GENERATE_INPUTS.items()]),
            step=tf.function(self._step, input_signature=[
                tf.TensorSpec([None], tf.int32, name="token"),
                *[tf.TensorSpec([None, size], tf.float32, name=f"state_{i}")
                  for i, size in enumerate(self.state_sizes)]]),
            vocabulary=tf.function(self._vocabulary, input_signature=[]))

    def signatures(self):
        """``{signature key: concrete function}`` for ``tf.saved_model.save``."""
        functions = self._functions
        generate = functions.generate.get_concrete_function()
        return {"serving_default": generate, "generate": generate,
                "step": functions.step.get_concrete_function(),
                "vocabulary": functions.vocabulary.get_concrete_function()}

    # -- generate ------------------------------------------------------------
    def _per_prompt(self, value, key, count):
        """``value`` ([1] or [count]) broadcast to [count], after checking its size."""
        size = tf.size(value)
        check = _assert(tf.logical_or(tf.equal(size, count), tf.equal(size, 1)),
                        f"{key} must hold one value per prompt or a single value; prompts:",
                        count, f"{key} values received:", size)
        with tf.control_dependencies([check]):
            return tf.broadcast_to(value, [count])

    def _generate(self, prompt, length, temperature, seed):
        count = tf.size(prompt)
        checks = [
            _assert(tf.reduce_all((length >= 0) & (length <= self._max_length)),
                    f"length must be in [0, {self._max_length}], received:", length),
            _assert(tf.reduce_all(tf.math.is_finite(temperature) & (temperature > 0.0)),
                    "temperature must be a finite number > 0, received:", temperature),
        ]
        with tf.control_dependencies(checks):
            length = self._per_prompt(length, "length", count)
            temperature = self._per_prompt(temperature, "temperature", count)
            seed = self._per_prompt(seed, "seed", count)
        prompt = tf.where(tf.equal(prompt, ""), "\n", prompt)
        chars = tf.strings.unicode_split(prompt, "UTF-8", errors="replace")
        ids = tf.cast(tf.ragged.map_flat_values(self._layers.char_to_id, chars), tf.int32)
        flat, splits = ids.flat_values, ids.row_splits
        top_k = tf.constant(0, tf.int32)

        def one(i):
            seed_pair = tf.stack([
                tf.cast(tf.math.floormod(seed[i], _SEED_MODULUS), tf.int32), 0])
            generated = self._sampler.generate_ids(
                flat[splits[i]:splits[i + 1]], length[i], temperature[i], top_k, seed_pair)
            return tf.strings.reduce_join(self._layers.id_to_char(generated))

        text = tf.map_fn(one, tf.range(count),
                         fn_output_signature=tf.TensorSpec([], tf.string))
        return {"text": text}

    # -- step ----------------------------------------------------------------
    def _step(self, token, *states):
        batch = tf.shape(token)[0]
        checks = [_assert(tf.reduce_all((token >= 0) & (token < self._vocab_size)),
                          f"token ids must be in [0, {self._vocab_size}), received:", token)]
        for i, state in enumerate(states):
            checks.append(_assert(
                tf.equal(tf.shape(state)[0], batch),
                f"state_{i} must have one row per token; tokens:", batch,
                f"state_{i} rows:", tf.shape(state)[0]))
        with tf.control_dependencies(checks):
            token = tf.identity(token)
        states = [tf.cast(s, dtype) for s, dtype in zip(states, self._state_dtypes)]
        logits, states = self._sampler.step(token, states)
        outputs = {"logits": tf.cast(logits, tf.float32)}
        outputs.update({f"state_{i}": tf.cast(s, tf.float32) for i, s in enumerate(states)})
        return outputs

    # -- vocabulary ----------------------------------------------------------
    def _vocabulary(self):
        return {"chars": tf.constant(self._chars, tf.string)}


# ---------------------------------------------------------------------------
# Layout: versions, temporary directories, models.config
# ---------------------------------------------------------------------------

def _is_version(name):
    return name.isascii() and name.isdigit()


def list_versions(model_dir):
    """The version numbers under ``model_dir`` (integer-named directories), sorted."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and _is_version(p.name))


def latest_version_dir(path):
    """``path`` itself if it holds a ``saved_model.pb``, else its highest complete version."""
    path = Path(path)
    if (path / "saved_model.pb").exists():
        return path
    complete = [v for v in list_versions(path) if (path / str(v) / "saved_model.pb").exists()]
    if not complete:
        raise ValueError(f"{str(path)!r} is neither a SavedModel directory (no saved_model.pb) "
                         "nor a model base path with integer version directories.")
    return path / str(complete[-1])


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temp_dirs(model_dir, stale_after_s=STALE_AFTER_S):
    """Removes temporary export directories left by exports that died.

    A temporary directory is stale when the process that made it (its name
    holds the pid) is gone, or when it is older than ``stale_after_s``.
    Returns the removed paths.
    """
    removed = []
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return removed
    for path in model_dir.iterdir():
        if not path.name.startswith(TEMP_PREFIX):
            continue
        pid = path.name[len(TEMP_PREFIX):].split("-", 1)[0]
        try:
            age = time.time() - path.lstat().st_mtime
        except FileNotFoundError:
            continue
        dead = not (pid.isdigit() and _pid_alive(int(pid)))
        if dead or age > stale_after_s:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _fsync_tree(root):
    """Flushes every file and directory under ``root`` to disk."""
    for directory, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(directory)


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path, text):
    path = Path(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}-{path.name}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _quote(text):
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


def exported_models(base=DEFAULT_BASE):
    """Names of the models under ``base`` with at least one complete version."""
    base = Path(base)
    if not base.is_dir():
        return []
    return sorted(
        p.name for p in base.iterdir()
        if p.is_dir() and not p.name.startswith(".")
        and any((p / str(v) / "saved_model.pb").exists() for v in list_versions(p)))


def models_config_text(base=DEFAULT_BASE, absolute_paths=False, root=CONTAINER_ROOT):
    """The text-format ``model_config_list`` for every model exported under ``base``.

    Args:
        base: The export root (``saved_models``).
        absolute_paths: Use this machine's absolute paths as ``base_path``
            (a local ``tensorflow_model_server``) instead of ``<root>/<name>``.
        root: Where the container mounts ``base`` (``-v $PWD/saved_models:/models``).
    """
    lines = ["model_config_list {"]
    for name in exported_models(base):
        path = (Path(base).resolve() / name) if absolute_paths else f"{root.rstrip('/')}/{name}"
        lines += ["  config {", f"    name: {_quote(name)}", f"    base_path: {_quote(path)}",
                  "    model_platform: 'tensorflow'", "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_models_config(base=DEFAULT_BASE, path=None, absolute_paths=False):
    """Regenerates ``<base>/models.config`` (or ``path``) atomically; returns its path."""
    path = Path(path) if path else Path(base) / MODELS_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, models_config_text(base, absolute_paths=absolute_paths))
    return path


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------

def _check_name(name):
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or _is_version(name):
        raise ValueError(
            f"Invalid model name {name!r}: use letters, digits, '_', '.' or '-', starting "
            "with a letter or digit, and not only digits (it becomes the URL "
            "/v1/models/<name> and the directory saved_models/<name>).")
    return name


def export_module(module, signatures, base=DEFAULT_BASE, name="model", *, side_files=None,
                  absolute_paths=False):
    """Writes any ``tf.Module`` with its signatures as the next version of ``base/name``.

    The general machinery under ``export_run``: a temporary directory, the
    SavedModel with ``side_files`` as tracked assets, a flush to disk, one
    rename to the next version number, then the side files beside the
    versions and a regenerated ``base/models.config``.

    Args:
        module: A ``tf.Module`` (its tracked variables and tables are saved).
        signatures: ``{signature key: function}`` for ``tf.saved_model.save``, or
            a callable returning it (called after the assets are attached).
        base: Export root.
        name: Model name (directory ``base/name``, served as ``/v1/models/<name>``).
        side_files: ``{file name: text}`` carried in ``assets/`` and beside the
            versions (``config.json``, ``vocab.json``, ``metrics.json``).
        absolute_paths: Write absolute ``base_path``s in ``models.config``.

    Returns:
        The new version directory, ``base/name/<version>``.
    """
    _check_name(name)
    side_files = dict(side_files or {})
    model_dir = Path(base) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temp_dirs(model_dir)
    tmp = model_dir / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        with tempfile.TemporaryDirectory(prefix="seqkit-assets-") as staging:
            for filename, text in side_files.items():
                (Path(staging) / filename).write_text(text, encoding="utf-8")
                attribute = re.sub(r"\W", "_", Path(filename).stem) + "_file"
                setattr(module, attribute, tf.saved_model.Asset(str(Path(staging) / filename)))
            if callable(signatures):
                signatures = signatures()
            tf.saved_model.save(module, str(tmp), signatures=signatures)
        _fsync_tree(tmp)
        version = _publish(tmp, model_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for filename, text in side_files.items():
        _write_atomic(model_dir / filename, text)
    write_models_config(base, absolute_paths=absolute_paths)
    return model_dir / str(version)


def _json_text(content):
    return json.dumps(content, indent=2, sort_keys=True, default=float)


def export_model(model, vocab, base=DEFAULT_BASE, name="model", *, config=None, metrics=None,
                 max_length=DEFAULT_MAX_LENGTH, absolute_paths=False):
    """Exports an in-memory character LM and its vocabulary as the next version of
    ``base/name`` (signatures ``serving_default``/``generate``, ``step``, ``vocabulary``).

    Args:
        model: A many-to-many model (``build_many_to_many``; stateless).
        vocab: Its ``CharVocab``.
        base: Export root; ``base/models.config`` is regenerated.
        name: Model name (the base path ``base/name`` and the serving name).
        config: The recipe config (a dict) to store with it, or None.
        metrics: The run's metrics (a dict), or None.
        max_length: Largest ``length`` the ``generate`` signature accepts.
        absolute_paths: Write absolute ``base_path``s in ``models.config``.

    Returns:
        The new version directory, ``base/name/<version>``.
    """
    _check_name(name)
    module = LanguageModelExport(model, vocab, max_length=max_length)
    with tempfile.TemporaryDirectory() as staging:
        vocab.save(Path(staging) / "vocab.json")
        side = {"vocab.json": (Path(staging) / "vocab.json").read_text(encoding="utf-8")}
    return export_module_with_files(module, base, name, side, config, metrics, absolute_paths)


def export_module_with_files(module, base, name, side, config, metrics, absolute_paths):
    """``export_module`` with the config and metrics (when given) among the side files."""
    _check_name(name)
    side = dict(side)
    if config is not None:
        side["config.json"] = _json_text(config)
    if metrics is not None:
        side["metrics.json"] = _json_text(metrics)
    return export_module(module, module.signatures, base, name, side_files=side,
                         absolute_paths=absolute_paths)


def _publish(tmp, model_dir, attempts=100):
    """Renames ``tmp`` to the next free version number; returns the number."""
    for _ in range(attempts):
        versions = list_versions(model_dir)
        version = versions[-1] + 1 if versions else 1
        target = model_dir / str(version)
        if target.exists():  # appeared since the listing (a concurrent export)
            continue
        try:
            os.rename(tmp, target)
        except OSError:  # a concurrent export took this number first
            if target.exists():
                continue
            raise
        _fsync_dir(model_dir)
        return version
    raise RuntimeError(f"Could not find a free version number under {str(model_dir)!r}.")


def _read_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8")) if Path(path).exists() else None


def _export_char_lm(run_dir, config, metrics, base, name, max_length, absolute_paths):
    import keras

    import seqkit.layers  # noqa: F401  (registers the serialisable layers)
    from seqkit.data import CharVocab

    missing = [f for f in ("model.keras", "vocab.json") if not (run_dir / f).exists()]
    if missing:
        raise ValueError(f"{str(run_dir)!r} is not a trained run directory: missing {missing}.")
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    vocab = CharVocab.load(run_dir / "vocab.json")
    return export_model(model, vocab, base, name, config=config, metrics=metrics,
                        max_length=max_length, absolute_paths=absolute_paths)


def _export_task(run_dir, config, metrics, base, name, max_length, absolute_paths):
    from seqkit.export_tasks import export_task_run  # imports this module: load it late

    return export_task_run(Path(run_dir), config, metrics, base, name, max_length,
                           absolute_paths)


EXPORTERS = {"char_lm": _export_char_lm, "classify": _export_task, "caption": _export_task,
             "translate": _export_task}
"""Exporter of each task (``config["task"]`` of the run): ``fn(run_dir, config, metrics,
base, name, max_length, absolute_paths) -> version directory``. Other tasks register
theirs here, built on ``export_module`` (classify, caption and translate: see
``seqkit.export_tasks``)."""


def export_run(run_dir, base=DEFAULT_BASE, name=None, *, max_length=DEFAULT_MAX_LENGTH,
               absolute_paths=False):
    """Exports a trained run as the next version of ``base/<name>``.

    Args:
        run_dir: A run directory (``model.keras``, ``vocab.json``; ``config.json``
            and ``metrics.json`` are carried along when present; a run without
            ``config.json`` is read as a character LM).
        base: Export root (``saved_models``).
        name: Model name; defaults to the run directory's name.
        max_length: Largest ``length`` the ``generate`` signature accepts.
        absolute_paths: Write absolute ``base_path``s in ``models.config``
            (for a local ``tensorflow_model_server``; the default ``/models/<name>``
            assumes the container with ``-v $PWD/saved_models:/models``).

    Returns:
        The new version directory ``base/<name>/<version>``.

    Raises:
        ValueError: ``run_dir`` is not a trained run, its task has no exporter,
            or ``name`` is invalid.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{str(run_dir)!r} is not a trained run directory: missing "
                         "['model.keras', 'vocab.json'].")
    name = _check_name(name if name is not None else run_dir.resolve().name)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a positive int, received {max_length!r}.")
    config = _read_json(run_dir / "config.json")
    metrics = _read_json(run_dir / "metrics.json")
    task = (config or {}).get("task", "char_lm")
    if task not in EXPORTERS:
        raise ValueError(f"Runs of task {task!r} cannot be exported yet; tasks with an "
                         f"exporter: {sorted(EXPORTERS)}.")
    return EXPORTERS[task](run_dir, config, metrics, base, name, max_length, absolute_paths)


def resolve_run(run_or_recipe, runs_dir="runs"):
    """A run directory from a path, or from a recipe name (meaning ``runs/<recipe>``)."""
    path = Path(run_or_recipe)
    if path.is_dir():
        return path
    from seqkit.config import available_recipes

    recipe = str(run_or_recipe).replace("-", "_")
    if recipe in available_recipes():
        run = Path(runs_dir) / recipe
        if run.is_dir():
            return run
        raise ValueError(f"Recipe {run_or_recipe!r} has no run directory {str(run)!r}; train "
                         f"it first: seqkit train {recipe}.")
    raise ValueError(f"{run_or_recipe!r} is neither a run directory nor a recipe; valid "
                     f"recipes: {available_recipes()}.")
