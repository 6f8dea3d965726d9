"""W7: tape bytes per scalar operation, memory that stays flat over
repeated gradient calls (the tape and adjoints are freed when grad returns),
and the peak memory one gradient of the W1 chain takes, per operation, in
fastad and in the peers (each measured in a fresh process)."""
import json
import math
import os
import resource
import subprocess
import sys

import pytest

from benchmarks.common import QUICK, check, peer, run
from benchmarks.test_w1_scalar_chain import X, Y, chain, reference_gradient

# Peak resident memory of one gradient of the W1 chain, above the process's
# peak after importing the library and differentiating a 100-op chain (the
# kernel's high-water mark VmHWM, whatever allocator the library uses; not
# ru_maxrss, which a child inherits from the process that forked it), per
# operation.  The chain is long enough for the peak to
# stand clear of what importing left: 10^6 operations for fastad and plain
# floats, 10^5 for the peers (whose per-operation cost is in Python objects).
PEAK_OPS = {"fastad": 1_000_000, "floats": 1_000_000, "autograd": 100_000, "pytorch": 100_000}
PEAK_SCRIPT = r"""
import json, math, sys
sys.path.insert(0, %(root)r)
from benchmarks.test_w1_scalar_chain import X, Y, chain, reference_gradient
kind = sys.argv[1]
if kind == "fastad":
    import fastad, fastad.numpy as m
    grad = lambda n: fastad.grad(lambda x, y: chain(x, y, m.sin, m.exp, m.log, m.tanh, n_ops=n), (0, 1))(X, Y)
elif kind == "autograd":
    import autograd, autograd.numpy as m
    grad = lambda n: autograd.grad(lambda x, y: chain(x, y, m.sin, m.exp, m.log, m.tanh, n_ops=n), (0, 1))(X, Y)
elif kind == "pytorch":
    import torch
    torch.set_num_threads(1)
    def grad(n):
        x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(Y, dtype=torch.float64, requires_grad=True)
        chain(x, y, torch.sin, torch.exp, torch.log, torch.tanh, n_ops=n).backward()
        return x.grad.item(), y.grad.item()
else:
    grad = lambda n: chain(X, Y, math.sin, math.exp, math.log, math.tanh, n_ops=n)
def high_water_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
grad(100)
before = high_water_kib()
grad(%(n)d)
after = high_water_kib()
print(json.dumps({"peak_bytes": 1024 * (after - before)}))
"""


def peak_bytes_per_op(kind):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    n = PEAK_OPS[kind]
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT % {"root": root, "n": n}, kind],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        pytest.fail("peak-memory run of %s failed: %s" % (kind, out.stderr[-500:]))
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"] / n

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
    benchmark.extra_info["peak_bytes_per_op"] = peak_bytes_per_op("fastad")
    run(benchmark, GROUP, "fastad", "subject", grad, X, Y)
    assert math.isfinite(per_op)


def test_plain_floats_peak(benchmark):
    benchmark.extra_info["peak_bytes_per_op"] = peak_bytes_per_op("floats")
    run(benchmark, GROUP, "python floats (function only)", "limit",
        chain, X, Y, math.sin, math.exp, math.log, math.tanh)


def test_autograd_peak(benchmark):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    benchmark.extra_info["peak_bytes_per_op"] = peak_bytes_per_op("autograd")
    grad = autograd.grad(lambda x, y: chain(x, y, anp.sin, anp.exp, anp.log, anp.tanh), (0, 1))
    check(grad(X, Y), reference_gradient(X, Y))
    run(benchmark, GROUP, "autograd", "peer", grad, X, Y, rounds=2 if QUICK else 5)


def test_torch_peak(benchmark):
    torch = peer("torch")
    benchmark.extra_info["peak_bytes_per_op"] = peak_bytes_per_op("pytorch")

    def grad(x, y):
        tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        ty = torch.tensor(y, dtype=torch.float64, requires_grad=True)
        chain(tx, ty, torch.sin, torch.exp, torch.log, torch.tanh).backward()
        return tx.grad.item(), ty.grad.item()
    check(grad(X, Y), reference_gradient(X, Y))
    run(benchmark, GROUP, "pytorch", "peer", grad, X, Y, rounds=2 if QUICK else 5)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
