"""Helpers shared by the workloads: thread settings, peers, correctness."""
import importlib
import os

import numpy as np
import pytest

THREADS = int(os.environ.get("FASTAD_BENCH_THREADS", "1"))
QUICK = os.environ.get("FASTAD_BENCH_QUICK", "0") == "1"


def peer(name):
    """Import a peer library, or skip this implementation with a note."""
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install
        pytest.skip("%s is not installed (%s): pip install '.[bench]'" % (name, exc))
    if name == "torch":
        module.set_num_threads(THREADS)
    return module


def check(result, reference, rtol=1e-9, atol=1e-12, what="result"):
    """Fail (and so never time) an implementation whose answer is wrong."""
    flat_result = [np.asarray(r, np.float64) for r in _leaves(result)]
    flat_reference = [np.asarray(r, np.float64) for r in _leaves(reference)]
    if len(flat_result) != len(flat_reference):
        pytest.fail("wrong %s: %d parts, expected %d" % (what, len(flat_result), len(flat_reference)))
    for r, e in zip(flat_result, flat_reference):
        if r.shape != e.shape or not np.allclose(r, e, rtol=rtol, atol=atol):
            err = np.max(np.abs(r - e)) if r.shape == e.shape else "shape %s vs %s" % (r.shape, e.shape)
            pytest.fail("wrong %s (max abs error %s): not timed" % (what, err))


def central_differences(f, args, picks, h, seed=1):
    """Central differences of f(*args) at `picks` random coordinates of each
    argument (step h): [(argument, flat index, derivative), ...], to check a
    hand-written derivative before anything is timed against it."""
    rng = np.random.default_rng(seed)
    out = []
    for a, arg in enumerate(args):
        for j in rng.choice(arg.size, min(picks, arg.size), replace=False):
            up, down = [v.copy() for v in args], [v.copy() for v in args]
            up[a].flat[j] += h
            down[a].flat[j] -= h
            out.append((a, j, (f(*up) - f(*down)) / (2 * h)))
    return out


def _leaves(x):
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _leaves(item)]
    if isinstance(x, dict):
        return [leaf for k in x for leaf in _leaves(x[k])]
    return [x]


def alternating(fun, *arg_sets):
    """A call of `fun` at each of `arg_sets` in turn: a recorded tape keeps
    the primals of its last replay, so timing it at one point over and over
    would time the sweep alone."""
    state = [0]

    def call():
        state[0] = (state[0] + 1) % len(arg_sets)
        return fun(*arg_sets[state[0]])
    return call


def compiled(benchmark, first_call):
    """Run a jit peer's first call (its compilation) and record how long it
    took beside its steady-state timing; returns the call's result."""
    import time
    start = time.perf_counter()
    result = first_call()
    benchmark.extra_info["compile_seconds"] = time.perf_counter() - start
    return result


def run(benchmark, group, impl, role, fun, *args, rounds=None, slow=False, paired=None):
    """Time `fun(*args)` under pytest-benchmark with the suite's metadata.

    role: "subject" (fastad), "limit" (hand-written), "peer", or a
    workload-specific role such as "function".  `slow`: a call of many
    seconds, timed once with no warm-up; its result is returned for the
    caller to check.  `paired`: (name, call) of a peer's call of a second
    or so, run just before each round of `fun` (one call per round), so
    that the two are timed side by side in time: a drifting machine moves
    both, and the median of the per-round ratios `fun` / peer
    (extra_info "paired_ratio", with "paired_impl" and the peer's
    "paired_median") compares them where separate rows minutes apart may
    not."""
    benchmark.group = group
    benchmark.extra_info.update(impl=impl, role=role, threads=THREADS)
    if slow:
        benchmark.extra_info["iterations_per_round"] = 1
        return benchmark.pedantic(fun, args=args, rounds=1, iterations=1, warmup_rounds=0)
    if rounds is None:
        rounds = 3 if QUICK else 15
    import time
    if paired is not None:
        name, peer_call = paired
        peer_seconds = []

        def before_round():
            start = time.perf_counter()
            peer_call()
            peer_seconds.append(time.perf_counter() - start)
        benchmark.extra_info["iterations_per_round"] = 1
        result = benchmark.pedantic(fun, args=args, rounds=rounds, iterations=1, warmup_rounds=1,
                                    setup=before_round)
        ours = np.asarray(benchmark.stats.stats.data, np.float64)
        theirs = np.asarray(peer_seconds[-len(ours):], np.float64)  # (the warm-up's dropped)
        ratios = ours / theirs
        benchmark.extra_info.update(paired_impl=name, paired_median=float(np.median(theirs)),
                                    paired_ratio=float(np.median(ratios)),
                                    paired_ratio_min=float(ratios.min()),
                                    paired_ratio_max=float(ratios.max()))
        return result
    # A round of a short call repeats it to last about 5 ms, so that one
    # scheduling hiccup of a shared machine does not become a sample; the
    # same rule for every implementation.
    start = time.perf_counter()
    fun(*args)
    once = time.perf_counter() - start
    iterations = max(1, min(1000, int(0.005 / max(once, 1e-7))))
    benchmark.extra_info["iterations_per_round"] = iterations
    return benchmark.pedantic(fun, args=args, rounds=rounds, iterations=iterations,
                              warmup_rounds=1)
