"""W7: tape bytes per scalar operation, and memory that stays flat over
repeated gradient calls (the tape and adjoints are freed when grad returns)."""
import math
import resource

import pytest

from benchmarks.common import QUICK, run
from benchmarks.test_w1_scalar_chain import X, Y, chain

GROUP = "W7 memory: gradient of the W1 chain"


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def test_tape_bytes_per_op(benchmark):
    import fastad
    import fastad.numpy as fnp
    seen = {}

    def traced(x, y):
        out = chain(x, y, fnp.sin, fnp.exp, fnp.log, fnp.tanh)
        seen["tape"] = x.tape
        return out
    fastad.grad(traced, (0, 1))(X, Y)
    tape = seen.pop("tape")
    per_op = tape.nbytes / len(tape)
    # adjoints: one double per node, allocated once per sweep
    benchmark.extra_info.update(tape_bytes_per_op=per_op, adjoint_bytes_per_op=8.0,
                                ops=len(tape))
    assert per_op <= 40, "tape uses %.1f bytes per scalar operation" % per_op
    grad = fastad.grad(lambda x, y: chain(x, y, fnp.sin, fnp.exp, fnp.log, fnp.tanh), (0, 1))
    calls = 2_000 if QUICK else 100_000
    small = fastad.grad(lambda x, y: chain(x, y, fnp.sin, fnp.exp, fnp.log, fnp.tanh, n_ops=70), (0, 1))
    for _ in range(calls // 10):  # warm up allocator pools
        small(X, Y)
    before = rss_bytes()
    for _ in range(calls):
        small(X, Y)
    after = rss_bytes()
    growth = (after - before) / before
    benchmark.extra_info.update(rss_before=before, rss_after=after, rss_growth=growth,
                                repeated_calls=calls)
    assert growth < 0.01, "RSS grew by %.2f%% over %d calls" % (100 * growth, calls)
    run(benchmark, GROUP, "fastad", "subject", grad, X, Y)
    assert math.isfinite(per_op)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
