"""W16: sparse derivatives of recorded tapes against CasADi SX and MX and
sparse derivatives written by hand: the chained Rosenbrock Hessian written
vectorised and as a Python loop, the 2-D Bratu residual's Jacobian
(5-point stencil on an m x m grid, zero outside), a 1-D stencil written as a loop with `stack`, and Van
der Pol trapezoidal collocation's constraint Jacobian and the Hessian of
its Lagrangian (the multipliers and objective factor as parameters).

Evaluation is timed at alternating points (a tape keeps its last replay);
set-up (fastad: record, find the pattern, colour; CasADi: build the
expression and its Function) is timed once and reported beside it in
`extra_info["setup_seconds"]`.  CasADi MX runs the vectorised problems only
(an MX graph of 1e5 scalar operations written in a loop is what SX is for).
Every implementation's matrix is checked against the hand-written one
first."""
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


def bratu(np_, x, m, reshape, pad):
    """The 2-D Bratu residual on an m x m grid of unknowns, zero outside it
    (5m^2 - 4m Jacobian entries: 4992 at m = 32)."""
    u = pad(reshape(x, m))
    inner = u[1:-1, 1:-1]
    lap = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4.0 * inner
    return lap + 0.5 * np_.exp(inner)


def bratu_jacobian(x, m):
    """By hand: 0.5 exp(u) - 4 on the diagonal, 1 for each neighbour on the grid."""
    import scipy.sparse
    n = m * m
    i, j = np.divmod(np.arange(n), m)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [0.5 * np.exp(x) - 4.0]
    for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        inside = np.flatnonzero((i + di >= 0) & (i + di < m) & (j + dj >= 0) & (j + dj < m))
        rows.append(inside)
        cols.append(inside + di * m + dj)
        vals.append(np.ones(len(inside)))
    return scipy.sparse.csr_array((np.concatenate(vals), (np.concatenate(rows),
                                                          np.concatenate(cols))), shape=(n, n))


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


#: Van der Pol's horizon; trapezoidal collocation over N intervals has the
#: states x1, x2 at N + 1 nodes and the control u on each interval
T_VDP = 10.0


def vdp_intervals(n):
    """N for the 3N + 2 decision variables nearest n."""
    return int(round((n - 2) / 3.0))


def vdp_parts(z):
    N = (z.shape[0] - 2) // 3
    return z[:N + 1], z[N + 1:2 * N + 2], z[2 * N + 2:], T_VDP / N


def vdp_objective(total, z):
    x1, x2, u, h = vdp_parts(z)
    return h * (total(x1 ** 2) + total(x2 ** 2) + total(u ** 2))


def vdp_defects(z, concatenate):
    """x1' = (1 - x2^2) x1 - x2 + u, x2' = x1 by the trapezoidal rule."""
    x1, x2, u, h = vdp_parts(z)
    f1 = (1.0 - x2 ** 2) * x1 - x2
    c1 = x1[1:] - x1[:-1] - 0.5 * h * (f1[:-1] + f1[1:]) - h * u
    c2 = x2[1:] - x2[:-1] - 0.5 * h * (x1[:-1] + x1[1:])
    return concatenate(c1, c2)


def vdp_lagrangian(total, z, lam, sigma, concatenate, dot):
    return sigma * vdp_objective(total, z) + dot(lam, vdp_defects(z, concatenate))


def vdp_jacobian(z):
    """By hand: 5 entries per row of c1, 4 per row of c2."""
    import scipy.sparse
    x1, x2, u, h = vdp_parts(z)
    N = len(u)
    k = np.arange(N)
    i1, i2, iu = k, N + 1 + k, 2 * N + 2 + k
    rows = np.concatenate([np.repeat(k, 5), np.repeat(N + k, 4)])
    cols = np.concatenate([np.stack([i1, i1 + 1, i2, i2 + 1, iu], 1).ravel(),
                           np.stack([i1, i1 + 1, i2, i2 + 1], 1).ravel()])
    c1 = np.stack([-1.0 - 0.5 * h * (1.0 - x2[:-1] ** 2), 1.0 - 0.5 * h * (1.0 - x2[1:] ** 2),
                   0.5 * h * (2.0 * x2[:-1] * x1[:-1] + 1.0),
                   0.5 * h * (2.0 * x2[1:] * x1[1:] + 1.0), np.full(N, -h)], 1).ravel()
    c2 = np.tile([-0.5 * h, -0.5 * h, -1.0, 1.0], N)
    return scipy.sparse.csr_array((np.concatenate([c1, c2]), (rows, cols)),
                                  shape=(2 * N, len(z)))


def vdp_hessian(z, lam, sigma):
    """By hand: 2 h sigma on the diagonal, and where c1 reads node j,
    h w_j (x2_j off the diagonal, x1_j on x2_j's) with w_j the sum of the
    multipliers of c1's rows touching node j."""
    import scipy.sparse
    x1, x2, u, h = vdp_parts(z)
    N = len(u)
    w = np.zeros(N + 1)
    w[:-1] += lam[:N]
    w[1:] += lam[:N]
    j = np.arange(N + 1)
    diagonal = np.full(len(z), 2.0 * h * sigma)
    diagonal[N + 1 + j] += h * x1 * w
    off = h * x2 * w
    rows = np.concatenate([np.arange(len(z)), j, N + 1 + j])
    cols = np.concatenate([np.arange(len(z)), N + 1 + j, j])
    return scipy.sparse.csr_array((np.concatenate([diagonal, off, off]), (rows, cols)),
                                  shape=(len(z), len(z)))


def _point(n, seed=0):
    return np.random.default_rng(seed).uniform(0.1, 0.9, n)


#: problem: (derivative, sizes, written vectorised)
PROBLEMS = {
    "rosenbrock H, vectorised": ("hessian", SIZES, True),
    "rosenbrock H, loop": ("hessian", LOOP_SIZES, False),
    "bratu J": ("jacobian", SIZES, True),
    "stencil J, loop with stack": ("jacobian", LOOP_SIZES, False),
    "collocation J": ("jacobian", SIZES, True),
    "collocation H": ("hessian", SIZES, True),
}


def _arguments(problem, n, seed=0):
    """The derivative's arguments: the point, and for the Lagrangian its
    multipliers and objective factor."""
    x = _point(n, seed)
    if problem == "collocation H":
        N = vdp_intervals(n)
        return x, np.random.default_rng(seed + 10).normal(size=2 * N), 1.0 + seed
    return (x,)


def _group(problem, n):
    return "W16 sparse %s, n=%d" % (problem, n)


def _reference(problem, *args):
    x = args[0]
    if problem.startswith("rosenbrock"):
        return rosen_hessian(x)
    if problem == "bratu J":
        return bratu_jacobian(x, int(round(np.sqrt(x.size))))
    if problem == "collocation J":
        return vdp_jacobian(x)
    if problem == "collocation H":
        return vdp_hessian(*args)
    return stencil_jacobian(x)


def _size(problem, n):
    if problem == "bratu J":
        m = int(round(np.sqrt(n)))
        return m * m
    if problem.startswith("collocation"):
        return 3 * vdp_intervals(n) + 2
    return n


def _cases():
    for problem, (_, sizes, _) in PROBLEMS.items():
        for n in sizes:
            yield problem, _size(problem, n)


CASES = list(_cases())
VECTORISED = [(problem, n) for problem, n in CASES if PROBLEMS[problem][2]]


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
    run(benchmark, _group(problem, n), "sparse by hand (scipy.sparse)", "limit",
        lambda *args: _reference(problem, *args), *_arguments(problem, n))


def _fastad_function(problem, n):
    import fastad.numpy as fnp
    if problem == "rosenbrock H, vectorised":
        return lambda x: rosen(fnp, x)
    if problem == "rosenbrock H, loop":
        return rosen_loop
    if problem == "bratu J":
        m = int(round(np.sqrt(n)))
        return lambda x: fnp.ravel(bratu(fnp, x, m, lambda v, m: fnp.reshape(v, (m, m)),
                                         lambda u: fnp.pad(u, 1)))
    if problem == "collocation J":
        return lambda z: vdp_defects(z, lambda a, b: fnp.concatenate([a, b]))
    if problem == "collocation H":
        return lambda z, lam, sigma: vdp_lagrangian(
            fnp.sum, z, lam, sigma, lambda a, b: fnp.concatenate([a, b]), fnp.dot)
    return lambda x: stencil_loop(fnp, x)


@pytest.mark.parametrize("problem, n", CASES)
def test_fastad(benchmark, problem, n):
    import fastad
    kind = PROBLEMS[problem][0]
    args, other = _arguments(problem, n), _arguments(problem, n, 1)
    start = time.perf_counter()
    tape = fastad.record(_fastad_function(problem, n), *args)
    first = tape.sparse_hessian(*args) if kind == "hessian" else tape.sparse_jacobian(*args)
    benchmark.extra_info["setup_seconds"] = time.perf_counter() - start
    benchmark.extra_info["nnz"] = int(first.nnz)
    colours = tape._sparse[("gradient", 0)]._sparse[("hessian", 0)][3] if kind == "hessian" \
        else tape._sparse[("jacobian", 0)][3]
    benchmark.extra_info["colours"] = int(colours)
    _check_sparse(first, _reference(problem, *args))
    method = tape.sparse_hessian if kind == "hessian" else tape.sparse_jacobian
    _check_sparse(method(*other, out=first), _reference(problem, *other))
    run(benchmark, _group(problem, n), "fastad tape.sparse_%s" % kind, "subject",
        alternating(lambda *a: method(*a, out=first), args, other))


def _casadi_function(ca, problem, n, kind="SX"):
    sym = getattr(ca, kind).sym
    x = sym("x", n)
    inputs = [x]
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
        # stencil and the padding are symmetric, so its column-major residual
        # is NumPy's ravel)
        zeros = getattr(ca, kind).zeros
        r = bratu(ca, x, m, lambda v, m: ca.reshape(v, m, m),
                  lambda u: ca.vertcat(zeros(1, m + 2), ca.horzcat(zeros(m, 1), u, zeros(m, 1)),
                                       zeros(1, m + 2)))
        out = ca.jacobian(ca.reshape(r, -1, 1), x)
    elif problem == "collocation J":
        out = ca.jacobian(vdp_defects(x, ca.vertcat), x)
    elif problem == "collocation H":
        lam, sigma = sym("lam", 2 * vdp_intervals(n)), sym("sigma")
        inputs += [lam, sigma]
        f = vdp_lagrangian(ca.sum1, x, lam, sigma, ca.vertcat, ca.dot)
        out = ca.hessian(f, x)[0]
    else:
        out = ca.jacobian(ca.vertcat(*[x[i - 1] - 2.0 * x[i] + x[i + 1] + ca.exp(x[i])
                                       for i in range(1, n - 1)]), x)
    return ca.Function("derivative", inputs, [out])


def _casadi(benchmark, problem, n, kind):
    ca = peer("casadi")
    args, other = _arguments(problem, n), _arguments(problem, n, 1)
    start = time.perf_counter()
    fun = _casadi_function(ca, problem, n, kind)
    first = fun(*args)
    benchmark.extra_info["setup_seconds"] = time.perf_counter() - start
    benchmark.extra_info["nnz"] = int(first.nnz())
    _check_sparse(first.sparse(), _reference(problem, *args))
    _check_sparse(fun(*other).sparse(), _reference(problem, *other))
    run(benchmark, _group(problem, n), "casadi %s Function" % kind, "peer",
        alternating(fun, args, other))


@pytest.mark.parametrize("problem, n", CASES)
def test_casadi_sx(benchmark, problem, n):
    _casadi(benchmark, problem, n, "SX")


@pytest.mark.parametrize("problem, n", VECTORISED)
def test_casadi_mx(benchmark, problem, n):
    _casadi(benchmark, problem, n, "MX")


# -- Van der Pol's NLP solved by IPOPT ------------------------------------------------
#
# minimise vdp_objective subject to the defects = 0, x(0) = (0, 1), x1 >= -0.25
# and |u| <= 1, from zeros, with IPOPT's defaults (MUMPS): through CasADi's
# nlpsol (SX) and through fastad.ipopt, which calls the IPOPT cyipopt is built
# against.  Same build: cyipopt is built against CasADi's bundled IPOPT (see
# docs/benchmarks.rst); otherwise fastad's row is skipped.  fastad's solution
# is checked against CasADi's first: the same iteration count, the objective
# to 1e-10.

IPOPT_SIZES = [_size("collocation J", n) for n in SIZES]
IPOPT_OPTIONS = {"print_level": 0, "sb": "yes"}


def _vdp_nlp(n):
    N = vdp_intervals(n)
    lb, ub = np.full(n, -np.inf), np.full(n, np.inf)
    lb[:N + 1] = -0.25
    lb[2 * N + 2:], ub[2 * N + 2:] = -1.0, 1.0
    lb[0] = ub[0] = 0.0
    lb[N + 1] = ub[N + 1] = 1.0
    return np.zeros(n), lb, ub


def _casadi_nlp(ca, n):
    z = ca.SX.sym("z", n)
    options = {"print_time": False}
    options.update(("ipopt." + key, value) for key, value in IPOPT_OPTIONS.items())
    return ca.nlpsol("vdp", "ipopt", {"x": z, "f": vdp_objective(ca.sum1, z),
                                      "g": vdp_defects(z, ca.vertcat)}, options)


def _casadi_solve(solver, n):
    z0, lb, ub = _vdp_nlp(n)
    return solver(x0=z0, lbx=lb, ubx=ub, lbg=0.0, ubg=0.0)


def _ipopt_group(n):
    return "W16 IPOPT, Van der Pol collocation, n=%d" % n


@pytest.mark.parametrize("n", IPOPT_SIZES)
def test_ipopt_casadi_sx(benchmark, n):
    ca = peer("casadi")
    start = time.perf_counter()
    solver = _casadi_nlp(ca, n)
    benchmark.extra_info["setup_seconds"] = time.perf_counter() - start
    _casadi_solve(solver, n)
    benchmark.extra_info["iterations"] = int(solver.stats()["iter_count"])
    run(benchmark, _ipopt_group(n), "casadi SX nlpsol", "peer", _casadi_solve, solver, n,
        rounds=_ipopt_rounds(n))


@pytest.mark.parametrize("n", IPOPT_SIZES)
def test_ipopt_fastad(benchmark, n):
    import os

    import fastad.numpy as fnp
    from fastad import _ipopt_c
    from fastad.ipopt import Problem
    ca = peer("casadi")
    peer("cyipopt")
    library = _ipopt_c._loaded_path()
    if library is None or os.path.dirname(library) != os.path.dirname(ca.__file__):
        pytest.skip("cyipopt is not built against CasADi's IPOPT (%s): not the same build; "
                    "see docs/benchmarks.rst" % library)
    z0, lb, ub = _vdp_nlp(n)
    start = time.perf_counter()
    problem = Problem(lambda z: vdp_objective(fnp.sum, z), z0,
                      g=lambda z: vdp_defects(z, lambda a, b: fnp.concatenate([a, b])),
                      lb=lb, ub=ub, cl=0.0, cu=0.0)
    benchmark.extra_info["setup_seconds"] = time.perf_counter() - start
    x, info = problem.solve(options=IPOPT_OPTIONS)
    solver = _casadi_nlp(ca, n)
    reference = _casadi_solve(solver, n)
    if info["status"] != 0 or info["iter_count"] != solver.stats()["iter_count"]:
        pytest.fail("IPOPT through fastad: status %d after %d iterations, CasADi's %d: not timed"
                    % (info["status"], info["iter_count"], solver.stats()["iter_count"]))
    check(info["obj_val"], float(reference["f"]), rtol=0.0, atol=1e-10, what="objective")
    check(x, np.asarray(reference["x"]).ravel(), rtol=0.0, atol=1e-8, what="solution")
    benchmark.extra_info["iterations"] = int(info["iter_count"])
    # (CasADi's solve before each round: the ratio of solves of 0.01-2 s is
    # taken side by side, not from rows timed minutes apart)
    run(benchmark, _ipopt_group(n), "fastad.ipopt Problem.solve", "subject",
        lambda: problem.solve(options=IPOPT_OPTIONS), rounds=_ipopt_rounds(n),
        paired=("casadi SX nlpsol", lambda: _casadi_solve(solver, n)))


def _ipopt_rounds(n):
    return 5 if n > 50000 and not QUICK else None  # (a solve of seconds)
