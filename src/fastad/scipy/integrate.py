"""Differentiable `odeint`: autograd's `autograd.scipy.integrate.odeint` and
JAX's `jax.experimental.ode.odeint`.

The solution of y' = func(y, t, *args) at the times t is computed by SciPy's
`scipy.integrate.odeint` (LSODA: Adams or BDF steps with error control,
switching as the problem turns stiff) and differentiated by the adjoint
method, as autograd and JAX do (Froehlich, Loos and Hasenauer,
arXiv:1711.08079, sec. 2.4.2): from the last time back to the first, the
augmented state (y, a, t0_bar, args_bar) is integrated backward over each
interval under

    y' = f,  a' = -a^T f_y,  t0_bar' = -a^T f_t,  args_bar' = -a^T f_args,

the cotangent of each output added to a at its time and g_i . f(y_i, t_i)
taken as t_i's cotangent.  The products a^T f_y ... are VJPs of `func` by
fastad.  Forward mode (jvp, jacfwd, hessian) solves the sensitivity
equations v' = f_y v + f_args args_dot from v(t0) = y0_dot - f(y0, t0)
t0_dot alongside y, and adds f(y_i, t_i) t_i_dot at each output.

Both are again solutions of ODEs by the same operation (of the augmented
or the tangent system), so derivatives of derivatives follow the same
rules, as in autograd.  The operation takes y0, t and the float leaves of
args packed into one vector; other leaves of args (ints, strings,
functions) pass to `func` as they are.  SciPy's other scipy.integrate
names (quad, solve_ivp, ...) are SciPy's own, for plain values.
"""
import inspect
import math

import numpy as np

from ..core import vjp
from ..extend import defjvp, defvjp, primitive
from ..forward import jvp
from ..ops.elementwise import add, multiply, negative, subtract
from ..ops.products import dot
from ..ops.shape import astype, concatenate, reshape
from ..ops.tracing import TRACED, array
from ..ravel import flatten
from ..tree import flatten as tree_flatten, unflatten as tree_unflatten
from ..unrecorded import unrecorded

__all__ = ["odeint"]


class _System:
    """An ODE on flat vectors, `rhs(y, t, p)` -> y', solved at `n_times`
    times with `n_states` states and `n_params` parameters, and SciPy's
    settings for it."""

    def __init__(self, rhs, n_states, n_times, n_params, options):
        self.rhs, self.options = rhs, options
        self.n_states, self.n_times, self.n_params = n_states, n_times, n_params

    def split(self, z):
        """The packed vector's parts: (y0, t, p)."""
        D, T = self.n_states, self.n_times
        return z[:D], z[D:D + T], z[D + T:]

    def adjoint(self):
        """The augmented system (y, a, t0_bar, p_bar) of the backward sweep,
        solved over one interval (two times)."""
        D, P, rhs = self.n_states, self.n_params, self.rhs

        def adjoint_rhs(s, t, p):
            y, a = s[:D], s[D:2 * D]
            y_dot, pullback = vjp(rhs, y, t, p)
            y_bar, t_bar, p_bar = pullback(negative(a))
            return concatenate([y_dot, y_bar, reshape(t_bar, (1,)), p_bar])
        return _System(adjoint_rhs, 2 * D + 1 + P, 2, P, self.options)

    def tangent(self):
        """The system (y, v) of the forward sensitivity, with parameters
        (p, p_dot)."""
        D, P, rhs = self.n_states, self.n_params, self.rhs

        def tangent_rhs(s, t, q):
            y, v = s[:D], s[D:]
            p, p_dot = q[:P], q[P:]
            y_dot, v_dot = jvp(lambda y, p: rhs(y, t, p), (y, p), (v, p_dot))
            return concatenate([y_dot, v_dot])
        return _System(tangent_rhs, 2 * D, self.n_times, 2 * P, self.options)


def _solve(z, system):
    """The solution at the times, shape (T, D), by scipy.integrate.odeint."""
    try:
        import scipy.integrate
    except ImportError as exc:  # pragma: no cover - SciPy is a test dependency
        raise ImportError("fastad.scipy.integrate.odeint needs SciPy: pip install scipy") from exc
    y0, t, p = system.split(np.asarray(z, np.float64))
    rhs = system.rhs
    with unrecorded():
        return scipy.integrate.odeint(lambda y, s: np.asarray(rhs(y, s, p), np.float64), y0, t,
                                      **system.options)


_odeint = primitive(_solve)
_odeint.__name__ = "odeint"


def _vjp_z(ans, z, system):
    def vjp_fun(g):
        D, T = system.n_states, system.n_times
        _, t, p = system.split(z)
        adjoint = system.adjoint()
        a = g[T - 1]
        p_bar = np.zeros(system.n_params)
        t0_bar, t_bars = 0.0, []
        for i in range(T - 1, 0, -1):
            # moving the output time t_i moves y_i along f
            t_bar = dot(system.rhs(ans[i], t[i], p), g[i])
            t_bars.append(t_bar)
            t0_bar = subtract(t0_bar, t_bar)
            # the augmented system back to the previous output time
            s = concatenate([ans[i], a, reshape(t0_bar, (1,)), p_bar])
            s = _odeint(concatenate([s, t[i - 1:i + 1][::-1], p]), adjoint)[1]
            a = add(s[D:2 * D], g[i - 1])
            t0_bar, p_bar = s[2 * D], s[2 * D + 1:]
        t_bars.append(t0_bar)
        return concatenate([a, reshape(array(t_bars[::-1]), (T,)), p_bar])
    return vjp_fun


def _jvp_z(z_dot, ans, z, system):
    D, T = system.n_states, system.n_times
    y0, t, p = system.split(z)
    y0_dot, t_dot, p_dot = system.split(z_dot)
    moved = type(t_dot) in TRACED or np.any(t_dot != 0)
    v0 = y0_dot
    if moved:
        v0 = subtract(y0_dot, multiply(system.rhs(y0, t[0], p), t_dot[0]))
    solution = _odeint(concatenate([y0, v0, t, p, p_dot]), system.tangent())
    v = solution[:, D:]
    if moved:
        slopes = array([system.rhs(ans[i], t[i], p) for i in range(T)])
        v = add(v, multiply(slopes, reshape(t_dot, (T, 1))))
    return v


defvjp(_odeint, _vjp_z, None)
defjvp(_odeint, _jvp_z, None)


_OPTIONS = ("rtol", "atol", "mxstep", "hmax", "args", "tfirst")


def _binds(func, n):
    """Whether func can be called with n positional arguments (True when
    its signature cannot be read)."""
    try:
        inspect.signature(func).bind(*([None] * n))
    except TypeError:
        return False
    except ValueError:
        return True
    return True


def _func_arguments(func, args, scipy_args):
    """The extra arguments of func: JAX's `*args`, or SciPy's and autograd's
    `args` tuple (the keyword, or the one positional tuple when func takes
    its items and not the tuple)."""
    if scipy_args is not None:
        if args:
            raise TypeError("odeint: pass func's extra arguments either positionally (JAX's "
                            "*args) or as args=(...) (SciPy's), not both")
        return tuple(scipy_args) if isinstance(scipy_args, (tuple, list)) else (scipy_args,)
    if len(args) == 1 and type(args[0]) is tuple:
        items = args[0]
        if not (_binds(func, 3) and not _binds(func, 2 + len(items))):
            return items
    return args


def _float_leaf(leaf):
    if type(leaf) in TRACED:
        return True
    if isinstance(leaf, (bool, np.bool_)):
        return False
    if isinstance(leaf, (float, np.floating)):
        return True
    return isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"


def odeint(func, y0, t, *args, rtol=1.4e-8, atol=1.4e-8, mxstep=math.inf, hmax=math.inf,
           **kwargs):
    """The solution of y' = func(y, t, *args), y(t[0]) = y0, at the times
    `t` (1-D), differentiable with respect to `y0`, `t` and the float
    leaves of `args` by the adjoint method (reverse mode) and by the
    sensitivity equations (forward mode).

    JAX's signature (`jax.experimental.ode.odeint`): `y0` may be a pytree,
    and each leaf of the result has the times' axis in front of that
    leaf's shape, shape (len(t), D) for a vector `y0`.  `rtol`, `atol` are
    the error tolerances, `mxstep` the most steps per output time and
    `hmax` the largest step (unbounded by default).  SciPy's and autograd's
    form (`scipy.integrate.odeint(func, y0, t, args=(...))`) works too:
    `args=` as a keyword, or one tuple in the fourth place, which is unpacked
    into func's arguments unless func takes exactly one there (so a JAX
    caller passing one tuple `params` to `func(y, t, params)` gets it
    whole); `tfirst=True` calls `func(t, y, *args)`.  The steps are
    SciPy's LSODA.

    >>> from fastad.scipy.integrate import odeint
    >>> decay = lambda y, t, k: -k * y
    >>> t = numpy.array([0.0, 1.0])
    >>> float(odeint(decay, 1.0, t, 0.5)[1])                  # exp(-0.5)
    0.6065306...
    >>> fastad.grad(lambda k: odeint(decay, 1.0, t, k)[1])(0.5)   # -exp(-0.5)
    -0.6065306...
    """
    unknown = sorted(set(kwargs) - set(_OPTIONS))
    if unknown:
        raise TypeError("odeint() got unexpected keyword arguments %s; it takes rtol, atol, "
                        "mxstep, hmax, and SciPy's args and tfirst" % ", ".join(unknown))
    func_args = _func_arguments(func, args, kwargs.get("args"))
    if kwargs.get("tfirst"):
        user_func = func
        func = lambda y, s, *rest: user_func(s, y, *rest)  # noqa: E731

    # func's arguments: float leaves are parameters (derivatives); the others are passed on
    leaves, treedef = tree_flatten(func_args)
    floats = [i for i, leaf in enumerate(leaves) if _float_leaf(leaf)]
    p_vec, unflatten_p = flatten([leaves[i] for i in floats])
    y0_vec, unflatten_y = flatten(y0)

    def rhs(y, s, p):
        filled = list(leaves)
        for i, leaf in zip(floats, unflatten_p(p)):
            filled[i] = leaf
        out = func(unflatten_y(y), s, *tree_unflatten(treedef, filled))
        return flatten(out)[0]

    t_vec = t if type(t) in TRACED else np.asarray(t, np.float64)
    if np.ndim(t_vec) != 1 or np.shape(t_vec)[0] == 0:
        raise ValueError("odeint: t must be a 1-D array of times, got shape %s" % (np.shape(t),))
    if t_vec.dtype != np.float64:
        t_vec = astype(t_vec, np.float64)
    options = dict(rtol=rtol, atol=atol, hmax=0.0 if hmax == math.inf else hmax,
                   mxstep=np.iinfo(np.int32).max if mxstep == math.inf else int(mxstep))
    system = _System(rhs, y0_vec.shape[0], t_vec.shape[0], p_vec.shape[0], options)
    parts = [y0_vec, t_vec, p_vec]
    z = concatenate([p if type(p) in TRACED else np.asarray(p, np.float64) for p in parts])
    return unflatten_y.stacked(_odeint(z, system))


def __getattr__(name):
    # SciPy's other scipy.integrate names (quad, solve_ivp, ...), for plain values
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        import scipy.integrate
        return getattr(scipy.integrate, name)
    except (ImportError, AttributeError):
        raise AttributeError("module 'fastad.scipy.integrate' has no attribute %r" % name) from None
