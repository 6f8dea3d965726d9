"""`python -m fastad.demo`: the lectures' first example, and a small benchmark.

y = ln(x1) + x1*x2 - sin(x2) at (2, 5): its value, gradient and evaluation
trace; then the 10,000-operation scalar loop of the benchmark suite (W1),
differentiated by fastad and evaluated on plain Python floats.
"""
import math
import time

import fastad as fd
import fastad.numpy as np


def example1(x1, x2):
    return np.log(x1) + x1 * x2 - np.sin(x2)


def chain(x, y, sin, exp, log, tanh, n_ops=10_000):
    """The benchmark suite's W1 loop: eight operations per iteration."""
    acc = x
    for k in range(n_ops // 8):
        acc = acc + tanh(log(exp(sin(x * y + 0.001 * k)) / 3.0))
    return acc


def _median_time(fun, *args, repeats=21):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fun(*args)
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main():
    print("fastad %s: compiled tape-based automatic differentiation\n" % fd.__version__)
    print("Lecture example 1: y = ln(x1) + x1*x2 - sin(x2) at (x1, x2) = (2, 5)")
    y, (g1, g2) = fd.value_and_grad(example1, (0, 1))(2.0, 5.0)
    print("  y        = %.9f   (lecture: 11.652071455)" % y)
    print("  dy/dx1   = %.9f   (lecture: 5.5)" % g1)
    print("  dy/dx2   = %.9f   (lecture: 1.716337815)" % g2)
    print("\n  the evaluation trace, read off the recorded tape (x1 seeded):")
    tape = fd.record(example1, 2.0, 5.0)
    for line in tape.trace_table(2.0, 5.0).splitlines():
        print("    " + line)
    print("\nW1: gradient of a 10,000-operation scalar Python loop")
    grad = fd.grad(lambda x, y: chain(x, y, np.sin, np.exp, np.log, np.tanh), (0, 1))
    t_plain = _median_time(chain, 0.3, 0.7, math.sin, math.exp, math.log, math.tanh)
    t_grad = _median_time(grad, 0.3, 0.7)
    print("  the loop on plain floats       %8.1f us  (%.0f ns per op)" % (t_plain * 1e6, t_plain * 1e5))
    print("  fastad record + backward       %8.1f us  (%.0f ns per op, %.2fx the plain loop)"
          % (t_grad * 1e6, t_grad * 1e5, t_grad / t_plain))
    print("  gradient:", tuple(round(g, 6) for g in grad(0.3, 0.7)))
    print("\nThe full comparison with autograd, PyTorch and JAX: python -m benchmarks")


if __name__ == "__main__":
    main()
