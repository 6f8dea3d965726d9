"""W15: nested derivatives.  GradBench's `saddle` and `particle` (Pearlmutter
and Siskind's nested-AD problems): an objective that itself runs a
gradient-descent loop, with Python tests on traced values, minimised by
gradient descent; the outer and the inner gradient each by reverse (r) or
forward (f) mode, the four pairs rr, ff, fr, rf.  Written as a Python user
writes it, on lists of scalars, once for every library.  The limit is the
same loops on Python floats with the derivatives written by hand.

Beside them, the simplest nested forms on a 10,000-op scalar chain:
grad(grad(f)) and an HVP over 10 inputs, each against one gradient."""
import math

import pytest

from benchmarks.common import QUICK, check, peer, run

# GradBench's expected outputs (evals/saddle, evals/particle)
SADDLE = [8.246324826140356e-06] * 4
PARTICLE = 0.2071918746486116
MODES = ["rr"] if QUICK else ["rr", "ff", "fr", "rf"]


def solver(sqrt):
    """GradBench's gradient descent (tools/*/solver): argmin by steps of
    eta, doubled after 10 successes and halved after a failure.  `grad`
    maps a function to its gradient function; `value` maps a function to
    how it is evaluated (itself, or a recorded tape of it)."""
    def magnitude(v):
        total = v[0] * v[0]
        for a in v[1:]:
            total = total + a * a
        return sqrt(total)

    def argmin(grad, f, x, value=None):
        g = grad(f)
        f = value(f) if value is not None else f
        fx, gx, eta, i = f(x), g(x), 1e-5, 0
        while True:
            if magnitude(gx) <= 1e-5:
                return x
            if i == 10:
                eta, i = 2.0 * eta, 0
                continue
            x_prime = [a - eta * b for a, b in zip(x, gx)]
            if magnitude([a - b for a, b in zip(x, x_prime)]) <= 1e-5:
                return x
            fx_prime = f(x_prime)
            if fx_prime < fx:
                x, fx, gx, i = x_prime, fx_prime, g(x_prime), i + 1
            else:
                eta, i = eta / 2.0, 0

    def argmax(grad, f, x, value=None):
        return argmin(grad, lambda x: -f(x), x, value)

    return argmin, argmax


def problems(sqrt):
    """saddle(grad0, grad1) and particle(grad0, grad1), with the solver's
    `value` hook for the outer level."""
    argmin, argmax = solver(sqrt)

    def f(p1, p2):
        return (p1[0] * p1[0] + p1[1] * p1[1]) - (p2[0] * p2[0] + p2[1] * p2[1])

    def saddle(grad0, grad1, value=None):
        start = [1.0, 1.0]

        def r1_cost(p1):
            inner = lambda p2: f(p1, p2)  # noqa: E731
            return inner(argmax(grad1, inner, start))
        r1 = argmin(grad0, r1_cost, start, value)
        r2 = argmax(grad0, lambda p: f(r1, p), start, value)
        return list(r1) + list(r2)

    def naive_euler(grad, w):
        charges = [(10.0, 10.0 - w), (10.0, 0.0)]
        x, xdot, dt = (0.0, 8.0), (0.75, 0.0), 1e-1

        def p(x):
            total = 0.0
            for c in charges:
                total = total + 1.0 / sqrt((x[0] - c[0]) * (x[0] - c[0])
                                           + (x[1] - c[1]) * (x[1] - c[1]))
            return total
        gradient = grad(p)
        while True:
            gp = gradient(x)
            xddot = (-gp[0], -gp[1])
            x_new = (x[0] + dt * xdot[0], x[1] + dt * xdot[1])
            if not x_new[1] > 0:
                break
            x, xdot = x_new, (xdot[0] + dt * xddot[0], xdot[1] + dt * xddot[1])
        dt_f = -x[1] / xdot[1]
        x_t_f = x[0] + dt_f * xdot[0]
        return x_t_f * x_t_f

    def particle(grad0, grad1, value=None):
        return argmin(grad0, lambda w: naive_euler(grad1, w[0]), [0.0], value)

    return {"saddle": saddle, "particle": particle}


EXPECTED = {"saddle": SADDLE, "particle": [PARTICLE]}


def _group(problem, mode):
    return "W15 %s %s: nested gradient descent" % (problem, mode)


def _operator(make):
    """grad0/grad1 of the solver from a library's gradient operator: the
    gradient function made once per function (as a user writes g =
    grad(f) before a loop), called per point, its result as a list."""
    def gradient_of(f):
        g = make(f)
        return lambda x: list(g(x))
    return gradient_of


def _fastad_operators():
    import fastad
    return {"r": _operator(fastad.grad), "f": _operator(fastad.jacfwd)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("problem", ["saddle", "particle"])
def test_hand_written(benchmark, problem, mode):
    """The limit: the same loops on Python floats, each derivative by hand."""
    call = hand_written[problem]
    check(call(), EXPECTED[problem], rtol=1e-9, atol=1e-15)
    run(benchmark, _group(problem, mode), "python floats, derivatives by hand", "limit", call)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("problem", ["saddle", "particle"])
def test_fastad(benchmark, problem, mode):
    import fastad.numpy as fnp
    ops = _fastad_operators()
    solve = problems(fnp.sqrt)[problem]
    call = lambda: solve(ops[mode[0]], ops[mode[1]])  # noqa: E731
    check(call(), EXPECTED[problem], rtol=1e-9, atol=1e-15)
    run(benchmark, _group(problem, mode), "fastad", "subject", call, rounds=3 if QUICK else 5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("problem", ["saddle", "particle"])
def test_fastad_recorded(benchmark, problem, mode):
    """The outer level's function and gradient recorded (retape=True) at the
    first point and replayed at the others; a point where a recorded test
    comes out differently is recorded again there."""
    import fastad
    import fastad.numpy as fnp
    ops = _fastad_operators()
    solve = problems(fnp.sqrt)[problem]

    def call():
        start = [1.0, 1.0] if problem == "saddle" else [0.0]
        outer = lambda f: fastad.record(ops[mode[0]](f), start, retape=True)  # noqa: E731
        value = lambda f: fastad.record(f, start, retape=True)  # noqa: E731
        return solve(outer, ops[mode[1]], value)
    check(call(), EXPECTED[problem], rtol=1e-9, atol=1e-15)
    run(benchmark, _group(problem, mode), "fastad recorded", "subject", call,
        rounds=3 if QUICK else 5)


@pytest.mark.parametrize("mode", MODES)
def test_fastad_inner_by_hand(benchmark, mode):
    """The ceiling of any inner operator: saddle with fastad's outer
    operator and the inner derivative written by hand on the same values
    (d(-f)/dp2 = 2 p2), so that no inner operator runs at all.  A peer
    this many times slower bounds how many times faster than it fastad's
    traced run can be."""
    import fastad.numpy as fnp
    ops = _fastad_operators()
    by_hand = lambda f: (lambda p: [2.0 * p[0], 2.0 * p[1]])  # noqa: E731
    solve = problems(fnp.sqrt)["saddle"]
    call = lambda: solve(ops[mode[0]], by_hand)  # noqa: E731
    check(call(), EXPECTED["saddle"], rtol=1e-9, atol=1e-15)
    run(benchmark, _group("saddle", mode), INNER_BY_HAND, "reference", call,
        rounds=3 if QUICK else 5)


INNER_BY_HAND = "fastad outer, inner derivative by hand (no inner operator)"


# The peers take 15 s to minutes a call: timed once, their answers checked
# right after (a wrong one fails the run, which then writes no report).
@pytest.mark.skipif(QUICK, reason="minutes per call: full runs only")
@pytest.mark.parametrize("problem", ["saddle", "particle"])
def test_autograd(benchmark, problem):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    grad = _operator(autograd.grad)
    solve = problems(anp.sqrt)[problem]
    call = lambda: solve(grad, grad)  # noqa: E731
    result = run(benchmark, _group(problem, "rr"), "autograd", "peer", call, slow=True)
    check(result, EXPECTED[problem], rtol=1e-9, atol=1e-15)


@pytest.mark.skipif(QUICK, reason="minutes per call: full runs only")
@pytest.mark.parametrize("problem", ["saddle"])  # particle: no answer within 10 minutes
def test_torch(benchmark, problem):
    torch = peer("torch")

    def grad(f):
        def gradient(x):
            leaves = [v if torch.is_tensor(v) and v.requires_grad
                      else torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
                      for v in x]
            return list(torch.autograd.grad(f(list(leaves)), leaves, create_graph=True))
        return gradient
    solve = problems(torch.sqrt)[problem]
    call = lambda: [float(v.detach()) for v in solve(grad, grad)]  # noqa: E731
    result = run(benchmark, _group(problem, "rr"), "pytorch", "peer", call, slow=True)
    check(result, EXPECTED[problem], rtol=1e-9, atol=1e-15)


# -- the limit: Python floats, derivatives by hand ---------------------------

def _saddle_by_hand():
    """r1_cost(p1) = |p1|^2 - |y|^2 with y the inner argmax, which does not
    depend on p1 (p1 enters only its tests, through the same constant on
    both sides): the gradient is 2 p1, as the loop's derivative is."""
    argmin, argmax = solver(math.sqrt)
    start = [1.0, 1.0]
    negative_gradient = lambda f: (lambda p: [2.0 * p[0], 2.0 * p[1]])  # noqa: E731  (of -f)

    def f(p1, p2):
        return (p1[0] * p1[0] + p1[1] * p1[1]) - (p2[0] * p2[0] + p2[1] * p2[1])

    def r1_cost(p1):
        inner = lambda p2: f(p1, p2)  # noqa: E731
        return inner(argmax(negative_gradient, inner, start))

    def r1_gradient(p1):
        r1_cost(p1)  # the loop the derivative goes through runs all the same
        return [2.0 * p1[0], 2.0 * p1[1]]
    r1 = argmin(lambda f: r1_gradient, r1_cost, start)
    r2 = argmax(negative_gradient, lambda p: f(r1, p), start)
    return r1 + r2


def _particle_by_hand():
    """naive_euler(w) and its derivative in w, forward mode by hand: the
    field's gradient and Hessian in closed form (p = sum 1 / |x - c|, the
    first charge at (10, 10 - w))."""
    argmin, _ = solver(math.sqrt)

    def field(x, charges):
        """grad p and its Hessian, per charge."""
        out = []
        for c in charges:
            d0, d1 = x[0] - c[0], x[1] - c[1]
            r2 = d0 * d0 + d1 * d1
            r = math.sqrt(r2)
            r3, r5 = r2 * r, r2 * r2 * r
            out.append(((-d0 / r3, -d1 / r3),
                        ((3 * d0 * d0 / r5 - 1 / r3, 3 * d0 * d1 / r5),
                         (3 * d0 * d1 / r5, 3 * d1 * d1 / r5 - 1 / r3))))
        return out

    def euler(w):
        charges = [(10.0, 10.0 - w), (10.0, 0.0)]
        x, xdot, dt = (0.0, 8.0), (0.75, 0.0), 1e-1
        dx, dxdot = (0.0, 0.0), (0.0, 0.0)  # derivatives in w
        while True:
            (g1, h1), (g2, h2) = field(x, charges)
            # d(x - c1)/dw = dx + (0, 1): the first charge moves down with w
            m = (dx[0], dx[1] + 1.0)
            xddot = (-(g1[0] + g2[0]), -(g1[1] + g2[1]))
            dxddot = (-(h1[0][0] * m[0] + h1[0][1] * m[1] + h2[0][0] * dx[0] + h2[0][1] * dx[1]),
                      -(h1[1][0] * m[0] + h1[1][1] * m[1] + h2[1][0] * dx[0] + h2[1][1] * dx[1]))
            x_new = (x[0] + dt * xdot[0], x[1] + dt * xdot[1])
            if not x_new[1] > 0:
                break
            dx = (dx[0] + dt * dxdot[0], dx[1] + dt * dxdot[1])
            x, xdot = x_new, (xdot[0] + dt * xddot[0], xdot[1] + dt * xddot[1])
            dxdot = (dxdot[0] + dt * dxddot[0], dxdot[1] + dt * dxddot[1])
        dt_f = -x[1] / xdot[1]
        d_dt_f = -(dx[1] * xdot[1] - x[1] * dxdot[1]) / (xdot[1] * xdot[1])
        x_t_f = x[0] + dt_f * xdot[0]
        d_x_t_f = dx[0] + d_dt_f * xdot[0] + dt_f * dxdot[0]
        return x_t_f * x_t_f, 2.0 * x_t_f * d_x_t_f

    return argmin(lambda f: (lambda w: [euler(w[0])[1]]), lambda w: euler(w[0])[0], [0.0])


hand_written = {"saddle": _saddle_by_hand, "particle": _particle_by_hand}


# -- the simplest nested forms -----------------------------------------------

GROUP_CHAIN = "W15 nested, 10k-op scalar chain: against one gradient"


def chain(x, sin, exp, log, tanh, n_ops=10_000):
    """W1's chain of one input (x * x in place of x * y)."""
    acc = x
    for k in range(n_ops // 8):
        acc = acc + tanh(log(exp(sin(x * x + 0.001 * k)) / 3.0))
    return acc


def chain10(v, sin, exp, log, tanh, n_ops=10_000):
    """The chain over 10 inputs (element reads of an array)."""
    xs = [v[i] for i in range(10)]
    acc = 0.0
    for k in range(n_ops // 8):
        acc = acc + tanh(log(exp(sin(xs[k % 10] * xs[(k + 3) % 10] + 0.001 * k)) / 3.0))
    return acc


def _chain_second_derivative(x, n_ops=10_000):
    """d2/dx2 of chain by hand: per term t(u) = tanh(log(exp(sin(u)) / 3)) =
    tanh(sin(u) - log 3), u = x^2 + c."""
    total = 0.0
    for k in range(n_ops // 8):
        u = x * x + 0.001 * k
        s, c = math.sin(u), math.cos(u)
        t = math.tanh(s - math.log(3.0))
        dt = 1 - t * t  # tanh'
        d2t = -2 * t * dt
        du, d2u = 2 * x, 2.0
        # d/dx [dt * c * du] = d2t * c^2 du^2 - dt * s * du^2 + dt * c * d2u
        total += d2t * c * c * du * du - dt * s * du * du + dt * c * d2u
    return total


@pytest.mark.parametrize("what", ["grad", "grad(grad)", "grad, 10 inputs", "hvp, 10 inputs"])
def test_fastad_chain(benchmark, what):
    import numpy as np

    import fastad
    import fastad.numpy as fnp
    ops = (fnp.sin, fnp.exp, fnp.log, fnp.tanh)
    x, v, d = 0.3, np.linspace(0.1, 0.9, 10), np.ones(10)
    one = lambda u: chain(u, *ops)  # noqa: E731
    ten = lambda u: chain10(u, *ops)  # noqa: E731
    if what == "grad":
        call, args = fastad.grad(one), (x,)
    elif what == "grad(grad)":
        call, args = fastad.grad(fastad.grad(one)), (x,)
        check(call(*args), _chain_second_derivative(x), rtol=1e-9)
    elif what == "grad, 10 inputs":
        call, args = fastad.grad(ten), (v,)
    else:
        call, args = (lambda u: fastad.hvp(ten, u, d)), (v,)
        h = 1e-5
        check(call(v), (fastad.grad(ten)(v + h * d) - fastad.grad(ten)(v - h * d)) / (2 * h),
              rtol=1e-6, atol=1e-8)
    run(benchmark, GROUP_CHAIN, "fastad %s" % what, "subject", call, *args)
