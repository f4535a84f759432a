"""torch's CPU layers for ``benchmarks.throughput``, in a process of their own.

torch run in the same process as TensorFlow was about 10× slower than on its own (the
two runtimes' thread pools compete), so the torch models live here and the benchmark
drives them over a pipe: each line ``NAME`` read on stdin runs one training step of that
model and answers ``ok`` on stdout. The parent times the round trip, which costs well
under a millisecond against steps of tens of milliseconds.

    python -m benchmarks.torch_worker UNITS LSTM GRU RNN
"""

import os
import sys

from benchmarks.throughput import EMBEDDING, VOCAB, batch


def torch_step(name, units):
    """One training step (forward, backward, Adam) of embedding -> torch.nn.NAME -> dense."""
    import torch

    torch.manual_seed(0)
    embedding = torch.nn.Embedding(VOCAB, EMBEDDING)
    rnn = getattr(torch.nn, name)(EMBEDDING, units, batch_first=True)
    dense = torch.nn.Linear(units, VOCAB)
    parameters = [*embedding.parameters(), *rnn.parameters(), *dense.parameters()]
    optimizer = torch.optim.Adam(parameters, 1e-3)
    x, y = (torch.from_numpy(a).long() for a in batch())

    def step():
        optimizer.zero_grad()
        logits = dense(rnn(embedding(x))[0])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def main(argv):
    import torch

    torch.set_num_threads(os.cpu_count())
    units, names = int(argv[0]), argv[1:]
    steps = {name: torch_step(name, units) for name in names}
    print("ready", flush=True)
    for line in sys.stdin:
        steps[line.strip()]()
        print("ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
