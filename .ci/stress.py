"""Long-running reliability checks, run on demand (not in CI):

    python .ci/stress.py memory     # 10^6 grad calls, 10^5 record+replay: RSS flat
    python .ci/stress.py threads    # 8 threads for 10 s; 2-thread replay speed-up

Each prints its figures and exits non-zero on a wrong result or memory
growth.  The two-thread speed-up is a benchmark figure, printed but not a
bound: on a loaded machine (other processes on the cores) it says nothing
about the code.
"""
import gc
import resource
import sys
import threading
import time

import numpy

import fastad as fd
import fastad.numpy as np


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def memory(grad_calls=1_000_000, replay_calls=100_000):
    ok = True
    f = fd.grad(lambda x, y: np.sin(x * y) + np.exp(x) / (1.0 + y * y))
    g = fd.grad(lambda x: np.sum(np.tanh(x) * x))
    for _ in range(20_000):
        f(0.3, 0.7)
        g(numpy.ones(4))
    before = rss()
    start = time.perf_counter()
    for i in range(grad_calls):
        f(0.3, 0.7)
        if i % 10 == 0:
            g(numpy.ones(4))
    after = rss()
    growth = (after - before) / before
    print("grad: %d calls in %.1f s, RSS %.1f -> %.1f MB (%.3f%%)"
          % (grad_calls, time.perf_counter() - start, before / 1e6, after / 1e6, 100 * growth))
    ok &= growth < 0.01
    for _ in range(2_000):
        fd.record(lambda x: np.sum(x ** 2) * 2.0, numpy.ones(3)).gradient(numpy.ones(3))
    before = rss()
    start = time.perf_counter()
    for _ in range(replay_calls):
        tape = fd.record(lambda x: np.sum(x ** 2) * 2.0, numpy.ones(3))
        tape.gradient(numpy.ones(3))
    after = rss()
    growth = (after - before) / before
    print("record+replay: %d calls in %.1f s, RSS %.1f -> %.1f MB (%.3f%%)"
          % (replay_calls, time.perf_counter() - start, before / 1e6, after / 1e6, 100 * growth))
    ok &= growth < 0.01
    gc.collect()
    print("gc.garbage after collection: %d objects" % len(gc.garbage))
    ok &= not gc.garbage
    return ok


def chain(x, y, n_ops=10_000):
    acc = x
    for k in range(n_ops // 8):
        acc = acc + np.tanh(np.log(np.exp(np.sin(x * y + 0.001 * k)) / 3.0))
    return acc


def threads(seconds=10.0):
    ok = True
    funcs = [(lambda x: np.sum(np.sin(x) * x), lambda x: numpy.cos(x) * x + numpy.sin(x)),
             (lambda x: np.sum(np.exp(x)), numpy.exp),
             (lambda x: np.sum(x ** 3), lambda x: 3 * x ** 2),
             (lambda x: np.sum(np.tanh(x)), lambda x: 1 - numpy.tanh(x) ** 2)]
    errors, counts = [], [0] * 8
    stop = time.perf_counter() + seconds

    def worker(i):
        f, df = funcs[i % 4]
        x = numpy.linspace(0.1, 1.0, 5 + i)
        tape = fd.record(f, x)
        while time.perf_counter() < stop:
            for g in (fd.grad(f)(x), tape.gradient(x)):
                if not numpy.allclose(g, df(x), rtol=1e-12):
                    errors.append(i)
            counts[i] += 1
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print("8 threads for %.0f s: %d iterations, %d wrong results" % (seconds, sum(counts), len(errors)))
    ok &= not errors

    tapes = [fd.record(chain, 0.3, 0.7), fd.record(chain, 0.5, 0.2)]
    calls = 2000

    def replay(tape, out=None):
        for _ in range(calls):
            g = tape.gradient(0.3, 0.7)
        if out is not None:
            out.append(g)
    for t in tapes:
        replay(t)
    serial = []
    start = time.perf_counter()
    replay(tapes[0], serial)
    replay(tapes[1], serial)
    one = time.perf_counter() - start
    threaded = [[], []]
    workers = [threading.Thread(target=replay, args=(t, out)) for t, out in zip(tapes, threaded)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    two = time.perf_counter() - start
    wrong = sum(not out or not numpy.array_equal(out[0], ref) for out, ref in zip(threaded, serial))
    if wrong:
        print("two-thread replay: %d of 2 tapes gave other gradients than replayed alone" % wrong)
    ok &= not wrong
    print("replaying two 10,000-op scalar tapes %d times each: one thread %.2f s, two threads "
          "%.2f s: speed-up %.2fx (about 1.6x or more expected on 2 idle cores; not checked)"
          % (calls, one, two, one / two))
    return ok


if __name__ == "__main__":
    checks = {"memory": memory, "threads": threads}
    names = sys.argv[1:] or list(checks)
    results = [checks[name]() for name in names]
    sys.exit(0 if all(results) else 1)
