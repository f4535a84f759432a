"""The benchmark helpers that compute, not just time: the matmul ceiling's FLOP count."""

from benchmarks.ceiling import ceiling, matmul_shapes
from benchmarks.throughput import BATCH, EMBEDDING, VOCAB


def test_matmul_ceiling_counts_three_matmuls_per_forward_matmul():
    units, gates = 512, 4
    forward = 2 * (EMBEDDING * gates * units + units * gates * units + units * VOCAB)
    shapes = matmul_shapes(units, gates)
    per_token = sum(2 * m * k * n for m, k, n in shapes.values()) / BATCH
    assert per_token == 3 * forward  # each forward matmul: itself and two gradients
    assert abs(per_token / 1e6 - 7.28) < 0.01


def test_matmul_ceiling_runs():
    bound = ceiling(16, 3, repeats=2)
    assert bound["tokens_per_s"] > 0 and len(bound["gflops"]) == 9
    assert all(rate > 0 for rate in bound["gflops"].values())
