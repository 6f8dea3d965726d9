"""W16: sparse derivatives of recorded tapes against CasADi SX and sparse
derivatives written by hand: the chained Rosenbrock Hessian written
vectorised and as a Python loop, the 2-D Bratu residual's Jacobian
(5-point stencil) and a 1-D stencil written as a loop with `stack`.

Evaluation is timed at alternating points (a tape keeps its last replay);
set-up (fastad: record, find the pattern, colour; CasADi: build the
expression and its Function) is timed once and reported beside it in
`extra_info["setup_seconds"]`.  Every implementation's matrix is checked
against the hand-written one first."""
import time

import numpy as np
import pytest

from benchmarks.common import QUICK, alternating, check, peer, run

SIZES = [1000] if QUICK else [1000, 10000, 100000]
LOOP_SIZES = [1000] if QUICK else [1000, 10000, 100000]


def rosen(np_, x):
    return np_.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_loop(x):
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def rosen_hessian(x):
    """By hand: tridiagonal."""
    import scipy.sparse
    n = x.size
    diag = np.zeros(n)
    diag[:-1] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    diag[1:] += 200.0
    off = -400.0 * x[:-1]
    return scipy.sparse.diags([off, diag, off], [-1, 0, 1], format="csr")


def bratu(np_, x, m, reshape):
    u = reshape(x, m)
    inner = u[1:-1, 1:-1]
    lap = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4.0 * inner
    return lap + 0.5 * np_.exp(inner)


def bratu_jacobian(x, m):
    """By hand: the 5-point stencil on the interior, 0.5 exp(u) on its diagonal."""
    import scipy.sparse
    u = x.reshape(m, m)
    rows, cols, vals = [], [], []
    k = 0
    for i in range(1, m - 1):
        for j in range(1, m - 1):
            c = i * m + j
            rows += [k] * 5
            cols += [c - m, c - 1, c, c + 1, c + m]
            vals += [1.0, 1.0, -4.0 + 0.5 * np.exp(u[i, j]), 1.0, 1.0]
            k += 1
    return scipy.sparse.csr_array((vals, (rows, cols)), shape=((m - 2) ** 2, m * m))


def stencil_loop(fnp, x):
    return fnp.stack([x[i - 1] - 2.0 * x[i] + x[i + 1] + fnp.exp(x[i])
                      for i in range(1, len(x) - 1)])


def stencil_jacobian(x):
    import scipy.sparse
    n = x.size
    rows = np.repeat(np.arange(n - 2), 3)
    cols = (np.arange(n - 2)[:, None] + np.arange(3)).ravel()
    vals = np.tile([1.0, -2.0, 1.0], n - 2)
    vals[1::3] += np.exp(x[1:-1])
    return scipy.sparse.csr_array((vals, (rows, cols)), shape=(n - 2, n))


def _point(n, seed=0):
    return np.random.default_rng(seed).uniform(0.1, 0.9, n)


PROBLEMS = {
    "rosenbrock H, vectorised": ("hessian", SIZES),
    "rosenbrock H, loop": ("hessian", LOOP_SIZES),
    "bratu J": ("jacobian", SIZES),
    "stencil J, loop with stack": ("jacobian", LOOP_SIZES),
}


def _group(problem, n):
    return "W16 sparse %s, n=%d" % (problem, n)


def _reference(problem, x):
    if problem.startswith("rosenbrock"):
        return rosen_hessian(x)
    if problem == "bratu J":
        return bratu_jacobian(x, int(round(np.sqrt(x.size))))
    return stencil_jacobian(x)


def _bratu_size(n):
    m = int(round(np.sqrt(n)))
    return m * m


def _cases():
    for problem, (_, sizes) in PROBLEMS.items():
        for n in sizes:
            yield problem, (_bratu_size(n) if problem == "bratu J" else n)


CASES = list(_cases())


def _check_sparse(result, reference):
    """The hand-written matrix to 1e-9 + 1e-12 of its largest entry,
    compared as sparse matrices (a dense one is 80 GB at n = 1e5)."""
    import scipy.sparse
    result = scipy.sparse.csr_array(result)
    reference = scipy.sparse.csr_array(reference)
    if result.shape != reference.shape:
        pytest.fail("wrong shape %s, expected %s: not timed" % (result.shape, reference.shape))
    scale = np.abs(reference.data).max() if reference.nnz else 0.0
    difference = (result - reference).data
    check(difference, np.zeros_like(difference), rtol=0.0, atol=1e-9 + 1e-12 * scale)


@pytest.mark.parametrize("problem, n", CASES)
def test_hand_written(benchmark, problem, n):
    x = _point(n)
    run(benchmark, _group(problem, n), "sparse by hand (scipy.sparse)", "limit",
        lambda x: _reference(problem, x), x)


def _fastad_function(problem, n):
    import fastad.numpy as fnp
    if problem == "rosenbrock H, vectorised":
        return lambda x: rosen(fnp, x)
    if problem == "rosenbrock H, loop":
        return rosen_loop
    if problem == "bratu J":
        m = int(round(np.sqrt(n)))
        return lambda x: fnp.ravel(bratu(fnp, x, m, lambda v, m: fnp.reshape(v, (m, m))))
    return lambda x: stencil_loop(fnp, x)


@pytest.mark.parametrize("problem, n", CASES)
def test_fastad(benchmark, problem, n):
    import fastad
    kind = PROBLEMS[problem][0]
    x, y = _point(n), _point(n, 1)
    start = time.perf_counter()
    tape = fastad.record(_fastad_function(problem, n), x)
    first = tape.sparse_hessian(x) if kind == "hessian" else tape.sparse_jacobian(x)
    benchmark.extra_info["setup_seconds"] = time.perf_counter() - start
    benchmark.extra_info["nnz"] = int(first.nnz)
    colours = tape._sparse[("gradient", 0)]._sparse[("hessian", 0)][3] if kind == "hessian" \
        else tape._sparse[("jacobian", 0)][3]
    benchmark.extra_info["colours"] = int(colours)
    _check_sparse(first, _reference(problem, x))
    method = tape.sparse_hessian if kind == "hessian" else tape.sparse_jacobian
    _check_sparse(method(y, out=first), _reference(problem, y))
    run(benchmark, _group(problem, n), "fastad tape.sparse_%s" % kind, "subject",
        alternating(lambda x: method(x, out=first), (x,), (y,)))


def _casadi_function(ca, problem, n):
    x = ca.SX.sym("x", n)
    if problem == "rosenbrock H, vectorised":
        f = ca.sum1(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
        out = ca.hessian(f, x)[0]
    elif problem == "rosenbrock H, loop":
        f = 0.0
        for i in range(n - 1):
            f = f + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
        out = ca.hessian(f, x)[0]
    elif problem == "bratu J":
        m = int(round(np.sqrt(n)))
        # (CasADi reshapes column-major: its u is NumPy's transposed, and the
        # stencil is symmetric, so its column-major residual is NumPy's ravel)
        r = bratu(ca, x, m, lambda v, m: ca.reshape(v, m, m))
        out = ca.jacobian(ca.reshape(r, -1, 1), x)
    else:
        out = ca.jacobian(ca.vertcat(*[x[i - 1] - 2.0 * x[i] + x[i + 1] + ca.exp(x[i])
                                       for i in range(1, n - 1)]), x)
    return ca.Function("derivative", [x], [out])


@pytest.mark.parametrize("problem, n", CASES)
def test_casadi_sx(benchmark, problem, n):
    ca = peer("casadi")
    x, y = _point(n), _point(n, 1)
    start = time.perf_counter()
    fun = _casadi_function(ca, problem, n)
    first = fun(x)
    benchmark.extra_info["setup_seconds"] = time.perf_counter() - start
    benchmark.extra_info["nnz"] = int(first.nnz())
    _check_sparse(first.sparse(), _reference(problem, x))
    run(benchmark, _group(problem, n), "casadi SX Function", "peer",
        alternating(fun, (x,), (y,)))
