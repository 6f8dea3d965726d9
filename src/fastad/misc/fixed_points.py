"""Fixed points differentiated by the implicit function theorem
(autograd's `autograd.misc.fixed_points.fixed_point`).

`fixed_point(f, a, x0, distance, tol)` iterates x <- f(a)(x) from x0 until
two iterates are within `tol`.  Its derivative does not unroll the
iterations: at the fixed point x* = F(a, x*), with F(a, x) = f(a)(x),

    dx* = (I - F_x)^-1 F_a da,

so the VJP of a cotangent g is F_a^T w with w = g + F_x^T w, and the JVP of
a tangent da is v = F_a da + F_x v: both fixed points of their own, found
by the same iteration (from zero, with the same distance and tolerance).
Each is again a `fixed_point`, of the parameters (a, x*, g) or
(a, x*, F_a da), so that derivatives of derivatives follow the same rule
(autograd's construction).  The iteration converges where F is a
contraction in x, and then so do the two linear ones (F_x has the same
spectrum).

`a` and the iterates may be pytrees: the operation underneath takes them
as flat vectors (fastad.flatten), which is what a primitive records.
"""
import numpy as np

from ..core import make_vjp, plain
from ..extend import defjvp, defvjp, primitive
from ..forward import jvp, make_jvp
from ..ops.elementwise import add
from ..ravel import flatten
from ..unrecorded import unrecorded

__all__ = ["fixed_point"]


class _Problem:
    """What the iteration needs besides `a` and x0: the user's `f`, how to
    rebuild `a` and x from vectors, and the stopping rule."""

    def __init__(self, f, unflatten_a, unflatten_x, distance, tol):
        self.f, self.unflatten_a, self.unflatten_x = f, unflatten_a, unflatten_x
        self.distance, self.tol = distance, tol

    def step(self, a_vec, x_vec):
        """F(a, x) on vectors (traced or plain)."""
        x_next = self.f(self.unflatten_a(a_vec))(self.unflatten_x(x_vec))
        return flatten(x_next)[0]

    def vector_distance(self, x_vec, y_vec):
        return self.distance(self.unflatten_x(x_vec), self.unflatten_x(y_vec))


def _iterate(problem, a_vec, x0_vec):
    """The fixed point, iterated in the user's own structure (on numbers,
    whatever operator is recording: see fastad.unrecorded)."""
    with unrecorded():
        return _iterate_plain(problem, a_vec, x0_vec)


def _iterate_plain(problem, a_vec, x0_vec):
    step = problem.f(problem.unflatten_a(a_vec))
    distance, tol = problem.distance, problem.tol
    x_prev = problem.unflatten_x(x0_vec)
    x = step(x_prev)
    while distance(x, x_prev) > tol:
        x, x_prev = step(x), x
    vector = flatten(x)[0]
    if vector.shape != x0_vec.shape:
        raise ValueError("fixed_point: f(a)(x) returned %d numbers where x has %d; f(a) must "
                         "map x to a value of x's structure and shapes"
                         % (vector.size, x0_vec.size))
    return np.asarray(vector, np.float64)


_fixed_point = primitive(_iterate)
_fixed_point.__name__ = "fixed_point"


def _reverse_step(problem):
    """params = (a, x*, g)  ->  w -> g + F_x(a, x*)^T w."""
    def reverse(params):
        a_vec, x_star, g = params
        vjp_x, _ = make_vjp(lambda x: problem.step(a_vec, x))(x_star)
        return lambda w: add(vjp_x(w), g)
    return reverse


def _forward_step(problem):
    """params = (a, x*, u)  ->  v -> u + F_x(a, x*) v."""
    def forward(params):
        a_vec, x_star, u = params
        jvp_x = make_jvp(lambda x: problem.step(a_vec, x))(x_star)
        return lambda v: add(jvp_x(v)[1], u)
    return forward


def _vjp_a(ans, problem, a_vec, x0_vec):
    def vjp(g):
        w = fixed_point(_reverse_step(problem), (a_vec, ans, g), np.zeros(np.shape(ans)),
                        problem.vector_distance, problem.tol)
        vjp_a, _ = make_vjp(lambda a: problem.step(a, ans))(a_vec)
        return vjp_a(w)
    return vjp


def _jvp_a(t, ans, problem, a_vec, x0_vec):
    u = jvp(lambda a: problem.step(a, ans), (a_vec,), (t,))[1]
    return fixed_point(_forward_step(problem), (a_vec, ans, u), np.zeros(np.shape(ans)),
                       problem.vector_distance, problem.tol)


# x0 only starts the iteration: the fixed point does not depend on it
defvjp(_fixed_point, None, _vjp_a, None)
defjvp(_fixed_point, None, _jvp_a, None)


def fixed_point(f, a, x0, distance, tol):
    """The fixed point x* = f(a)(x*) reached by iterating x <- f(a)(x) from
    `x0` until `distance(x, x_prev) <= tol`, differentiable in `a` (a
    float, an array or a pytree) by the implicit function theorem rather
    than through the iterations: the derivatives solve linear fixed-point
    equations by the same iteration (so `f(a)` should be a contraction
    near x*).  autograd's `autograd.misc.fixed_points.fixed_point`; x* does
    not depend on `x0`, whose derivative is zero.

    >>> newton_sqrt = lambda a: lambda x: 0.5 * (x + a / x)
    >>> distance = lambda x, y: abs(x - y)
    >>> fastad.misc.fixed_point(newton_sqrt, 2.0, 1.0, distance, 1e-12)
    1.414213562373095
    >>> fastad.grad(lambda a: fastad.misc.fixed_point(newton_sqrt, a, 1.0, distance, 1e-12))(4.0)
    0.25
    """
    a_vec, unflatten_a = flatten(a)
    x0_vec, unflatten_x = flatten(x0)
    problem = _Problem(f, unflatten_a, unflatten_x, distance, tol)
    return unflatten_x(_fixed_point(problem, a_vec, plain(x0_vec)))
