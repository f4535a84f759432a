"""Training past one device with TensorFlow's own engine: ``tf.distribute`` strategies,
local multi-worker launchers and Keras Tuner's chief/worker mode.

``train.distribute`` picks the strategy of a run:

* ``none`` (default): TensorFlow's default strategy, one device;
* ``mirrored``: ``tf.distribute.MirroredStrategy`` over the local GPUs, or, without
  GPUs, over ``train.devices`` (default 2) logical CPU devices;
* ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy`` configured by the
  ``TF_CONFIG`` environment variable (``launch_local_workers`` sets it on loopback);
* ``tpu``: ``tf.distribute.TPUStrategy`` through ``TPUClusterResolver`` (``TPU_NAME``);
  written to the documented API but never run here (no TPU).

``train.batch_size`` is the *global* batch, split evenly across the replicas, so one
device and N replicas compute the same update. With ``train.batch_per_replica=True`` it
is the per-replica batch instead (global = batch × replicas), and
``train.scale_learning_rate="linear"`` multiplies the learning rate by the same factor
(Goyal et al. 2017).

Character LMs carry RNN states from one chunk to the next per batch row. Keras'
``stateful=True`` RNN keeps them in plain variables sized for one device, which a
``MirroredStrategy`` can neither split nor update per replica, so distributed char-LM
runs use ``StreamRecurrent``: the carried states live in one mirrored variable of the
global batch's shape; replica ``r`` always receives rows ``[r·b, (r+1)·b)`` of every
global batch (``stream_dataset``), starts from those rows of the carried states and
writes its final states back into them (a zero-padded ``SUM`` all-reduce), so every
replica and worker holds the same, complete carried states: checkpoints written by
the chief hold all streams.

Example:
    >>> strategy = strategy_for("mirrored", devices=2)   # before TF touches a device
    >>> with strategy.scope():
    ...     model = build_model()                          # then compile, fit as usual
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import tensorflow as tf

from seqkit.layers import Recurrent

STRATEGIES = ("none", "mirrored", "multi_worker", "tpu")
LR_SCALING = ("none", "linear")


# ---------------------------------------------------------------------------- strategies
def configure_logical_cpus(count):
    """Splits the CPU into ``count`` logical devices (``/CPU:0`` ... ``/CPU:{count-1}``).

    Must run before TensorFlow initialises its devices (before the first op).

    Args:
        count: Number of logical CPU devices, at least 1.

    Example:
        >>> configure_logical_cpus(2)
        >>> tf.config.list_logical_devices("CPU")   # two devices
    """
    count = int(count)
    if count < 1:
        raise ValueError(f"devices must be a positive integer, received {count!r}.")
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration()] * count
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError as error:
        have = len(tf.config.list_logical_devices("CPU"))
        if have == count:
            return
        raise RuntimeError(
            f"Cannot split the CPU into {count} logical devices: TensorFlow has already "
            f"initialised its {have} device(s) in this process ({error}). Create the "
            "mirrored strategy first, before any TensorFlow op runs (a fresh process: "
            "`seqkit train RECIPE --set train.distribute=mirrored`).") from error


def parse_tf_config(text=None):
    """Checks and returns the ``TF_CONFIG`` of a multi-worker run as a dict.

    Args:
        text: The JSON text; default: the ``TF_CONFIG`` environment variable.

    Raises:
        ValueError: It is missing, not JSON, or lacks ``cluster.worker`` or a ``task``
            of type ``chief``/``worker`` with a valid ``index``.

    Example:
        >>> parse_tf_config('{"cluster": {"worker": ["h1:2222", "h2:2222"]}, '
        ...                 '"task": {"type": "worker", "index": 0}}')["task"]["index"]
        0
    """
    text = os.environ.get("TF_CONFIG") if text is None else text
    example = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}')
    if not text:
        raise ValueError("train.distribute='multi_worker' needs the TF_CONFIG environment "
                         f"variable, e.g. TF_CONFIG='{example}' on every worker "
                         "(or `seqkit train RECIPE --workers 2` for a local run); received "
                         "no TF_CONFIG.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not JSON ({error}); received {text!r:.300}.") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    workers = (cluster or {}).get("worker") if isinstance(cluster, dict) else None
    if not isinstance(workers, list) or not workers:
        raise ValueError(f"TF_CONFIG needs cluster.worker, a list of host:port; received "
                         f"{text!r:.300}. Example: {example}")
    if not isinstance(task, dict) or task.get("type") not in ("chief", "worker"):
        raise ValueError(f"TF_CONFIG needs task.type 'chief' or 'worker'; received "
                         f"{text!r:.300}. Example: {example}")
    size = len(cluster.get(task["type"], []))
    index = task.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise ValueError(f"TF_CONFIG task.index must be in [0, {size}) for the "
                         f"{size} {task['type']}(s) of cluster; received index={index!r}.")
    return config


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``tf.distribute.MultiWorkerMirroredStrategy`` whose ``reduce`` also takes nested
    structures (leaf by leaf) and scalars with ``axis=0``, as Keras 3's ``fit`` calls it.

    Keras 3.15 on TF 2.21 fails two ways under the stock multi-worker strategy: ``fit``
    first reduces a whole ``(x, y)`` batch with one ``strategy.reduce`` call ("Attempt to
    convert a value (PerReplica...) to a Tensor"), then reduces each scalar log with
    ``axis=0`` ("Invalid reduction dimension 0 for input with 0 dimensions"; inside the
    step function, where one local replica's values are plain tensors). Every worker
    makes the same calls in the same order, so the per-leaf collectives match up.
    """

    def reduce(self, reduce_op, value, axis):
        if tf.nest.is_nested(value):
            return tf.nest.map_structure(lambda leaf: self.reduce(reduce_op, leaf, axis),
                                         value)
        if not isinstance(value, tf.distribute.DistributedValues):
            with tf.device(self.extended.worker_devices[0]):  # a collective needs a device
                value = tf.identity(value)
        local = self.experimental_local_results(value)[0]
        if axis is not None and getattr(local.shape, "rank", None) == 0:
            axis = None
        return super().reduce(reduce_op, value, axis)


def strategy_for(name, devices=None):
    """The ``tf.distribute`` strategy named ``name``.

    Args:
        name: ``"none"``, ``"mirrored"``, ``"multi_worker"`` or ``"tpu"``.
        devices: ``mirrored`` only: the number of GPUs to use (default all), or without
            GPUs the number of logical CPU devices to create (default 2).

    Returns:
        A ``tf.distribute.Strategy``; build and compile models inside its ``scope()``.

    Example:
        >>> strategy = strategy_for("mirrored", devices=2)
        >>> strategy.num_replicas_in_sync
        2
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown train.distribute {name!r}; valid choices: "
                         f"{list(STRATEGIES)}.")
    if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int)
                                or devices < 1):
        raise ValueError(f"train.devices must be a positive integer or None, received "
                         f"{devices!r}.")
    if name == "none":
        return tf.distribute.get_strategy()
    # One strategy per process and kind: a second one would reuse collective instance keys.
    if (name, devices) not in _STRATEGY_CACHE:
        _STRATEGY_CACHE[(name, devices)] = _new_strategy(name, devices)
    return _STRATEGY_CACHE[(name, devices)]


_STRATEGY_CACHE = {}


def _new_strategy(name, devices):
    if name == "mirrored":
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            count = len(gpus) if devices is None else min(devices, len(gpus))
            return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(count)])
        count = 2 if devices is None else devices
        configure_logical_cpus(count)
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(count)])
    if name == "multi_worker":
        parse_tf_config()
        # Ring all-reduce over gRPC works on CPUs and GPUs alike.
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        return MultiWorkerMirroredStrategy(communication_options=options)
    # TPU: the documented sequence; untested here (no TPU on this machine).
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=os.environ.get("TPU_NAME", ""))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def strategy_for_config(train):
    """``strategy_for(train["distribute"], train["devices"])`` with the defaults of configs
    written before these keys existed."""
    return strategy_for(train.get("distribute", "none") or "none", train.get("devices"))


# ---------------------------------------------------------------- batch and learning rate
def global_batch_size(batch_size, replicas, per_replica=False):
    """The global batch of a step.

    Args:
        batch_size: ``train.batch_size``.
        replicas: ``strategy.num_replicas_in_sync``.
        per_replica: ``train.batch_per_replica``: ``batch_size`` is per replica.

    Raises:
        ValueError: A global batch that does not split evenly over the replicas.

    Example:
        >>> global_batch_size(50, 2), global_batch_size(25, 2, per_replica=True)
        (50, 50)
    """
    batch_size, replicas = int(batch_size), int(replicas)
    total = batch_size * replicas if per_replica else batch_size
    if total % replicas:
        raise ValueError(f"train.batch_size={batch_size} (global) does not split evenly over "
                         f"{replicas} replicas; use a multiple of {replicas} or "
                         "train.batch_per_replica=True.")
    return total


def scaled_learning_rate(learning_rate, global_batch, base_batch, rule="none"):
    """The learning rate for ``global_batch`` when ``learning_rate`` was tuned for
    ``base_batch``.

    Args:
        learning_rate: The configured rate.
        global_batch, base_batch: Global batch of the run and the batch the rate is for.
        rule: ``"none"`` (unchanged) or ``"linear"`` (× global / base).

    Example:
        >>> scaled_learning_rate(1e-3, 128, 64, "linear")
        0.002
    """
    if rule not in LR_SCALING:
        raise ValueError(f"Unknown train.scale_learning_rate {rule!r}; valid choices: "
                         f"{list(LR_SCALING)}.")
    return learning_rate * global_batch / base_batch if rule == "linear" else learning_rate


def distributed_config(config, strategy):
    """A copy of ``config`` whose ``train.batch_size`` is the global batch and whose learning
    rate is scaled by ``train.scale_learning_rate``; both keys then read as the identity,
    so the saved config reproduces the run on any number of devices."""
    import copy

    config = copy.deepcopy(config)
    train = config["train"]
    if "batch_size" not in train:
        return config
    replicas = strategy.num_replicas_in_sync
    base = train["batch_size"]
    train["batch_size"] = global_batch_size(base, replicas, train.get("batch_per_replica"))
    rule = train.get("scale_learning_rate", "none") or "none"
    if "learning_rate" in train:
        train["learning_rate"] = scaled_learning_rate(train["learning_rate"],
                                                      train["batch_size"], base, rule)
    if "batch_per_replica" in train:
        train["batch_per_replica"] = False
    if "scale_learning_rate" in train:
        train["scale_learning_rate"] = "none"
    return config


# ------------------------------------------------------------------- workers and files
def worker_role(strategy=None):
    """``(task_type, task_id, is_chief)`` of this process (``("chief", 0, True)`` when not
    multi-worker)."""
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    task_id = getattr(resolver, "task_id", None)
    if not task_type or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "chief", 0, True
    cluster = resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0
                                     and "chief" not in cluster)
    return task_type, int(task_id), chief


def worker_run_dir(run_dir, strategy=None):
    """Where this process writes its logs and files: ``run_dir`` on the chief (and without
    a strategy), ``run_dir/worker_{i}`` on the other workers."""
    task_type, task_id, chief = worker_role(strategy)
    return Path(run_dir) if chief else Path(run_dir) / f"{task_type}_{task_id}"


def checkpoint_write_dir(directory, strategy=None):
    """The tf.distribute multi-worker convention: every worker saves (the save may need
    collectives), the chief into ``directory``, the others into a temporary directory that
    ``discard_worker_checkpoint`` removes."""
    task_type, task_id, chief = worker_role(strategy)
    if chief:
        return Path(directory)
    return Path(tempfile.mkdtemp(prefix=f"seqkit_{task_type}_{task_id}_ckpt_"))


def any_worker(flag, strategy=None):
    """True when ``flag`` is true on any replica of any worker (an all-reduce under a
    multi-worker strategy), so that every worker stops at the same step."""
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return bool(flag)
    value = tf.constant(1.0 if flag else 0.0)
    per_replica = strategy.run(lambda: tf.identity(value))
    return bool(strategy.reduce(tf.distribute.ReduceOp.MAX, per_replica, axis=None) > 0)


# ----------------------------------------------------------------- char-LM streams
class _Carried:
    """Holds the carried-state variables out of Keras' and tf.train's automatic tracking
    (they are checkpointed explicitly, as Keras' own stateful RNN does)."""

    def __init__(self):
        self.variables = []


@keras.saving.register_keras_serializable(package="seqkit")
class StreamRecurrent(Recurrent):
    """A ``Recurrent`` stack that carries its final states to the next batch, row by row,
    correctly under any ``tf.distribute`` strategy (truncated BPTT over parallel streams).

    The states of the ``global_batch_size`` streams live in mirrored variables. Replica
    ``r`` of ``R`` gets rows ``[r·b, (r+1)·b)`` of each global batch (``b`` = its batch),
    starts from the same rows of the carried states and writes its final states back
    with a zero-padded ``SUM`` all-reduce, so every replica ends the step with all of
    them. Called outside a replica context (a direct call), the batch is the whole one.

    Args:
        cell, units, depth, connection, cell_kwargs: As ``seqkit.layers.Recurrent``.
        global_batch_size: Number of streams (rows of a global batch).

    Example:
        >>> with strategy.scope():
        ...     stack = StreamRecurrent("lstm", 128, global_batch_size=50, depth=2)
    """

    def __init__(self, cell, units, global_batch_size, depth=1, connection=None,
                 cell_kwargs=None, **kwargs):
        for key in ("return_sequences", "return_state", "stateful"):
            kwargs.pop(key, None)
        super().__init__(cell, units, depth=depth, connection=connection,
                         return_sequences=True, return_state=True, stateful=False,
                         cell_kwargs=cell_kwargs, **kwargs)
        if isinstance(global_batch_size, bool) or int(global_batch_size) < 1:
            raise ValueError(f"global_batch_size must be a positive integer, received "
                             f"{global_batch_size!r}.")
        self.global_batch_size = int(global_batch_size)
        self._carried = _Carried()

    @property
    def carried(self):
        """The carried-state variables, ``(global_batch_size, size)`` each, layer 0 first."""
        return self._carried.variables

    def build(self, input_shape):
        super().build(input_shape)
        if not self._carried.variables:
            dtype = self.variable_dtype
            self._carried.variables = [
                tf.Variable(tf.zeros(state.shape, dtype), trainable=False,
                            aggregation=tf.VariableAggregation.SUM,
                            name=f"{self.name}_carried_{i}")
                for i, state in enumerate(self.initial_state(self.global_batch_size))]

    def call(self, inputs, mask=None, training=None):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        rows = tf.shape(inputs)[0]
        start = 0
        if replicas > 1:
            start = tf.cast(context.replica_id_in_sync_group, tf.int32) * rows
        initial = [tf.cast(v[start:start + rows], self.compute_dtype) for v in self.carried]
        output, *final = super().call(inputs, initial_state=initial, mask=mask,
                                      training=training)
        for variable, state in zip(self.carried, final):
            state = tf.cast(state, variable.dtype)
            if replicas > 1:
                # Zeros elsewhere: the SUM over replicas assembles every stream's state.
                padding = [[start, self.global_batch_size - start - rows], [0, 0]]
                variable.assign(tf.pad(state, padding))
            elif inputs.shape[0] == self.global_batch_size:
                variable.assign(state)
            else:  # a smaller batch outside a replica context: the first rows
                variable.assign(tf.concat([state, variable[rows:]], axis=0))
        return output

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def compute_mask(self, inputs, mask=None):
        return mask

    def reset_state(self):
        for variable in self.carried:
            variable.assign(tf.zeros_like(variable))

    def get_config(self):
        config = super().get_config()
        for key in ("return_sequences", "return_state", "stateful"):
            config.pop(key, None)
        return {**config, "global_batch_size": self.global_batch_size}


def carried_variables(stack):
    """The ``tf.Variable``s holding a char-LM stack's carried states, layer 0 first:
    ``StreamRecurrent.carried``, or the states of a Keras ``stateful=True`` stack."""
    if isinstance(stack, StreamRecurrent):
        return list(stack.carried)
    return [state.value for rnn in stack.rnns for state in rnn.states]


def build_stream_model(model_cfg, vocab_size, global_batch, seq_length, name):
    """The char-LM model of ``build_many_to_many`` with a ``StreamRecurrent`` stack
    (same layers, names and weight order, so ``get_weights`` moves to a stateless copy).

    Build it inside ``strategy.scope()``.

    Example:
        >>> with strategy.scope():
        ...     model = build_stream_model(config["model"], 65, 50, 50, "char_rnn")
    """
    from seqkit.builders import build_many_to_many

    # The same construction order as the one-device model gives the same initial weights.
    plain = build_many_to_many(
        model_cfg["cell"], model_cfg["units"], vocab_size, depth=model_cfg["depth"],
        embedding_dim=model_cfg["embedding_dim"], dropout=model_cfg["dropout"],
        connection=model_cfg["connection"], seq_length=seq_length, init=model_cfg["init"],
        cell_kwargs=model_cfg["cell_kwargs"], compile=False, name=name)
    stack = plain.get_layer("recurrent")
    stream = StreamRecurrent(stack.cell, stack.units, global_batch, depth=stack.depth,
                             connection=stack.connection, cell_kwargs=stack.cell_kwargs,
                             name="recurrent")
    tokens = keras.Input(shape=(seq_length,), dtype="int32", name="tokens")
    names = {layer.name for layer in plain.layers}
    x = plain.get_layer("embedding" if "embedding" in names else "one_hot")(tokens)
    x = stream(x)
    stream.set_weights(stack.get_weights())
    if "dropout" in names:
        x = plain.get_layer("dropout")(x)
    logits = plain.get_layer("logits")(x)
    return keras.Model({"tokens": tokens}, {"logits": logits}, name=name)


def stream_dataset(strategy, ids, batch_size, seq_length, start_step=0, take=None,
                   repeat=False):
    """Truncated-BPTT batches of ``ids`` distributed so that replica ``r`` of ``R`` always
    gets rows ``[r·b, (r+1)·b)`` of each ``(batch_size, seq_length)`` global batch
    (``b = batch_size / R``): its streams, whose states ``StreamRecurrent`` carries.

    Each worker builds only its own replicas' rows
    (``strategy.distribute_datasets_from_function``, no auto-sharding).

    Args:
        strategy: The run's strategy.
        ids, batch_size, seq_length, start_step: As ``seqkit.data.stream_batches``.
        take: Keep only the first ``take`` batches (validation steps).
        repeat: Start again from ``start_step`` at the end (give Keras ``steps_per_epoch``:
            a distributed dataset has no known length, and each epoch then reads one pass).

    Returns:
        A distributed dataset of ``({"tokens": x}, {"logits": y})`` for ``model.fit``.
    """
    from seqkit.data import stream_batches

    replicas = strategy.num_replicas_in_sync
    per_replica = global_batch_size(batch_size, replicas) // replicas

    def dataset_fn(context):
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local
        dataset = stream_batches(ids, batch_size, seq_length, start_step=start_step)
        if take:
            dataset = dataset.take(take)
        if repeat:
            dataset = dataset.repeat()

        def mine(x, y):
            shape = (replicas, per_replica, seq_length)
            return (tf.reshape(x, shape)[first:first + local],
                    tf.reshape(y, shape)[first:first + local])

        # One element per local replica, in replica order: the input pipeline hands
        # consecutive elements to its replicas in turn.
        dataset = dataset.map(mine).unbatch()
        dataset = dataset.map(lambda x, y: ({"tokens": x}, {"logits": y}))
        return dataset.prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(dataset_fn)


def shard_by_data(dataset):
    """``dataset`` with ``tf.data`` auto-sharding by DATA: each worker takes its slice of
    every global batch (the right policy for in-memory and generator datasets, which
    have no files to shard)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def local_copy(model):
    """A copy of ``model`` with the same weights, built outside any strategy (call it
    outside ``strategy.scope()``), for evaluation, decoding and saving after distributed
    training."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


# ------------------------------------------------------------------------ launchers
def free_ports(count):
    """``count`` distinct free TCP ports on 127.0.0.1 (bound to port 0, then released)."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


def local_tf_config(ports, index):
    """The ``TF_CONFIG`` of worker ``index`` of a loopback cluster on ``ports``."""
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": int(index)}})


def _check_workers(workers):
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, received {workers!r}.")


def start_local_workers(command, workers, base_port=None, env=None, log_dir=None):
    """Starts ``workers`` copies of ``command``, worker ``i`` with the ``TF_CONFIG`` of a
    loopback cluster; worker 0 (the chief) prints to this terminal, worker ``i > 0`` to
    ``log_dir/worker_{i}.log``.

    Args:
        command: The argument list every worker runs (``[sys.executable, "-m", ...]``).
        workers: Number of worker processes.
        base_port: Ports ``base_port, base_port + 1, ...``; default: free ports.
        env: Extra environment variables of every worker.
        log_dir: Folder of the non-chief logs (default: a new temporary folder).

    Returns:
        The ``subprocess.Popen`` of each worker, chief first; wait with ``wait_workers``.
    """
    _check_workers(workers)
    ports = free_ports(workers) if base_port is None else \
        [int(base_port) + i for i in range(workers)]
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="seqkit_workers_"))
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = []
    for index in range(workers):
        worker_env = {**os.environ, **(env or {}), "TF_CONFIG": local_tf_config(ports, index)}
        output = None if index == 0 else open(log_dir / f"worker_{index}.log", "w")  # noqa: SIM115
        processes.append(subprocess.Popen(list(command), env=worker_env, stdout=output,
                                          stderr=subprocess.STDOUT if output else None))
        if output:
            output.close()
    if workers > 1:
        print(f"started {workers} workers on 127.0.0.1 ports {ports}; logs of workers "
              f"1..{workers - 1}: {log_dir}", flush=True)
    return processes


def wait_workers(processes, timeout=None, grace_s=10.0):
    """Waits for every process; when one fails the others are stopped (a multi-worker job
    cannot go on without it) and its exit code returned.

    Args:
        processes: ``subprocess.Popen`` objects.
        timeout: Seconds before all are stopped and 124 returned (default: none).
        grace_s: Seconds between SIGTERM and SIGKILL when stopping the others.

    Returns:
        0 when all succeeded, else the first non-zero exit code seen.
    """
    deadline = None if timeout is None else time.time() + timeout
    code = 0
    try:
        while True:
            codes = [p.poll() for p in processes]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                code = failed[0]
                break
            if all(c == 0 for c in codes):
                return 0
            if deadline is not None and time.time() > deadline:
                code = 124
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        code = 130
    stop_processes(processes, grace_s)
    return code


def stop_processes(processes, grace_s=10.0):
    """SIGTERM every running process, then SIGKILL those still running after ``grace_s``."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    end = time.time() + grace_s
    for process in processes:
        try:
            process.wait(max(0.0, end - time.time()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def launch_local_workers(command, workers, base_port=None, env=None, log_dir=None,
                         timeout=None):
    """Runs ``command`` as a ``workers``-process multi-worker job on loopback and waits.

    The command shape is the one of a real cluster: each process gets its ``TF_CONFIG``
    and runs the same program with ``train.distribute=multi_worker``.

    Returns:
        0 when every worker succeeded, else the failing worker's exit code.

    Example:
        >>> launch_local_workers([sys.executable, "-m", "seqkit.cli", "train", "char_rnn",
        ...                       "--set", "train.distribute=multi_worker"], workers=2)
    """
    processes = start_local_workers(command, workers, base_port, env, log_dir)
    return wait_workers(processes, timeout=timeout)


def train_command(recipe, overrides=(), preset=None, config_file=None):
    """The ``seqkit train`` argument list of one worker of a multi-worker run."""
    command = [sys.executable, "-m", "seqkit.cli", "train", recipe]
    if preset:
        command += ["--preset", preset]
    if config_file:
        command += ["--config", str(config_file)]
    for item in overrides:
        command += ["--set", item]
    return command + ["--set", "train.distribute=multi_worker"]


def launch_train(recipe, overrides=(), preset=None, workers=2, base_port=None, log_dir=None,
                 config_file=None, timeout=None):
    """``seqkit train RECIPE --workers N``: a local multi-worker training run on loopback.

    Returns:
        0 when every worker succeeded, else the failing worker's exit code.

    Example:
        >>> launch_train("char_rnn", ["train.max_steps=100"], workers=2)
    """
    command = train_command(recipe, overrides, preset, config_file)
    return launch_local_workers(command, workers, base_port=base_port, log_dir=log_dir,
                                timeout=timeout)


def tuner_env(role, port, ip="127.0.0.1"):
    """Keras Tuner's distributed-mode variables: ``role`` is ``"chief"`` (the oracle) or
    ``"tuner0"``, ``"tuner1"`` ... (the workers)."""
    return {"KERASTUNER_TUNER_ID": role, "KERASTUNER_ORACLE_IP": ip,
            "KERASTUNER_ORACLE_PORT": str(int(port))}


def start_local_tuner(tune_args, workers=2, port=None, log_dir=None):
    """Starts a distributed Keras Tuner sweep on loopback: one chief (the oracle, which
    writes the results table) and ``workers`` workers, each running
    ``seqkit tune *tune_args``.

    Returns:
        The ``subprocess.Popen`` of the chief, then of each worker.
    """
    _check_workers(workers)
    port = free_ports(1)[0] if port is None else int(port)
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="seqkit_tuner_"))
    log_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "seqkit.cli", "tune", *tune_args]
    processes = [subprocess.Popen(command, env={**os.environ, **tuner_env("chief", port)})]
    for index in range(workers):
        with open(log_dir / f"tuner{index}.log", "w") as output:
            processes.append(subprocess.Popen(
                command, env={**os.environ, **tuner_env(f"tuner{index}", port)},
                stdout=output, stderr=subprocess.STDOUT))
    print(f"started a Keras Tuner chief on 127.0.0.1:{port} and {workers} workers; worker "
          f"logs: {log_dir}", flush=True)
    return processes


def launch_local_tuner(tune_args, workers=2, port=None, log_dir=None, timeout=None):
    """Runs a distributed Keras Tuner sweep (chief + ``workers`` workers) and waits.

    Workers finish when the oracle has no trials left; the chief then writes the same
    results table as a single-process sweep.

    Example:
        >>> launch_local_tuner(["char_rnn", "--trials", "4"], workers=2)
    """
    processes = start_local_tuner(tune_args, workers, port, log_dir)
    return wait_workers(processes, timeout=timeout)


def remove_tree(path):
    """Deletes a worker's temporary checkpoint folder (ignores a missing one)."""
    shutil.rmtree(path, ignore_errors=True)
