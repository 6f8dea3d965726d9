"""Numerical derivatives, the independent check of every rule."""
import functools

import numpy as np

from .core import _normalize_argnum, make_vjp
from .forward import jvp
from .tree import flatten, unflatten

#: relative step of the central difference: near the cube root of machine
#: precision the truncation (h^2) and rounding (eps / h) errors balance.
_STEP = {np.dtype(np.float64): 6e-6, np.dtype(np.float32): 5e-3}


def _as_float_array(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def numerical_grad(fun, x, eps=None):
    """Central-difference gradient of scalar `fun` at `x` (a float, an array
    or a pytree of them): `(f(x + h e_i) - f(x - h e_i)) / 2h` per element,
    with `h = eps * max(1, |x_i|)` (default eps 6e-6 in float64, 5e-3 in
    float32).  Returns the structure of `x`.  Costs 2 calls per element.
    `fun` need not be traceable: plain NumPy will do.

    >>> print(fastad.numerical_grad(lambda x: numpy.sum(x ** 2), numpy.array([1.0, -2.0])))
    [ 2. -4.]
    """
    leaves, treedef = flatten(x)
    leaves = [_as_float_array(leaf) for leaf in leaves]
    grads = []
    for k, leaf in enumerate(leaves):
        step = eps if eps is not None else _STEP.get(leaf.dtype, 6e-6)
        g = np.zeros(leaf.shape, np.float64)
        flat = leaf.reshape(-1)
        for i in range(flat.size):
            h = step * max(1.0, abs(float(flat[i])))
            values = []
            for sign in (1.0, -1.0):
                moved = flat.copy()
                moved[i] = flat[i] + sign * h
                trial = list(leaves)
                trial[k] = moved.reshape(leaf.shape)
                values.append(float(np.sum(fun(unflatten(treedef, _restore(trial, x))))))
            g.reshape(-1)[i] = (values[0] - values[1]) / (2.0 * h)
        grads.append(g.astype(leaf.dtype) if leaf.ndim else g[()])
    return unflatten(treedef, _restore(grads, x))


def _restore(leaves, like):
    """Give 0-d leaves back the float type of the original leaves."""
    originals = flatten(like)[0]
    out = []
    for new, old in zip(leaves, originals):
        if isinstance(old, float) and not isinstance(old, np.generic):
            out.append(float(new))
        else:
            out.append(new)
    return out


def _directional_numeric(fun, args, argnum, direction, eps):
    """d/dt fun(args with args[argnum] + t*direction) at t = 0, central."""
    leaves, treedef = flatten(args[argnum])
    dleaves = flatten(direction)[0]

    def at(t):
        moved = [np.asarray(x, np.float64) + t * np.asarray(d, np.float64)
                 for x, d in zip(leaves, dleaves)]
        moved = [m.astype(np.asarray(x).dtype) if np.asarray(x).dtype.kind == "f" else m
                 for m, x in zip(moved, leaves)]
        new_args = list(args)
        new_args[argnum] = unflatten(treedef, _restore(moved, args[argnum]))
        return [np.asarray(o, np.float64) for o in flatten(fun(*new_args))[0]]

    plus, minus = at(eps), at(-eps)
    return [(p - m) / (2.0 * eps) for p, m in zip(plus, minus)]


def check_grads(fun, *args, argnum=None, argnums=None, modes=("fwd", "rev"), order=2, eps=1e-6,
                rtol=1e-5, atol=1e-6):
    """Check fun's derivatives at `args` against central differences, as
    autograd's check_grads does.

    `argnum` (int or tuple; `argnums` is an alias) picks the arguments to
    check; by default every argument of floats is checked (arguments of
    ints or bools are passed through).  Called without `args`, it is
    autograd's curried form: `check_grads(fun, argnum=0)(*args, **kwargs)`
    checks argument `argnum` (default 0, as in autograd) with `kwargs`
    passed to `fun`.

    For each argument, with a random direction `v`: forward mode ("fwd")
    compares the JVP `J v` with the central difference of `fun(x + t v)`;
    reverse mode ("rev") compares `<VJP(u), v>` for a random cotangent `u`
    with the central difference of `<u, fun(x + t v)>`.  For `order` >= 2
    the check recurses on the JVP function `(args, v) -> J v` and the VJP
    function `(args, u) -> VJP(u)`, whose derivatives are second derivatives
    of `fun` (computed by nesting).  Raises AssertionError with the analytic
    and numeric figures when they disagree; returns None when they agree.

    >>> fastad.check_grads(lambda x: np.sin(x) * x, np.array([0.5, 1.0]))
    >>> fastad.check_grads(lambda x, y: x * y, argnum=1)(2.0, 3.0)
    """
    if argnums is not None:
        if argnum is not None:
            raise TypeError("check_grads: give argnum or argnums, not both")
        argnum = argnums
    options = dict(modes=modes, order=order, eps=eps, rtol=rtol, atol=atol)
    if not args:
        chosen = 0 if argnum is None else argnum

        def check_at(*args, **kwargs):
            call = functools.partial(fun, **kwargs) if kwargs else fun
            check_grads(call, *args, argnum=chosen, **options)
        return check_at
    if isinstance(modes, str):
        modes = (modes,)
    bad = set(modes) - {"fwd", "rev"}
    if bad:
        raise ValueError("check_grads: unknown modes %s; use 'fwd' and/or 'rev'" % sorted(bad))
    indices = _checked_arguments(argnum, args)
    if indices != tuple(range(len(args))):
        # the function of the checked arguments alone, the others held fixed
        def of_checked(*chosen):
            full = list(args)
            for i, value in zip(indices, chosen):
                full[i] = value
            return fun(*full)
        if indices:
            check_grads(of_checked, *[args[i] for i in indices], **options)
        return
    if order < 1:
        return
    rng = np.random.default_rng(0)
    for argnum in range(len(args)):
        if "fwd" in modes:
            _check_jvp(fun, args, argnum, rng, eps, rtol, atol)
        if "rev" in modes:
            _check_vjp(fun, args, argnum, rng, eps, rtol, atol)
    if order == 1:
        return
    argnums = tuple(range(len(args)))
    if "fwd" in modes:
        tangents = tuple(unflatten(flatten(a)[1], [_random_like(x, rng) for x in flatten(a)[0]])
                         for a in args)

        def jvp_fun(*args_and_tangents):
            xs, ts = args_and_tangents[:len(args)], args_and_tangents[len(args):]
            return jvp(fun, xs, ts)[1]
        check_grads(jvp_fun, *args, *tangents, modes=modes, order=order - 1,
                    eps=eps, rtol=rtol, atol=atol)
    if "rev" in modes:
        out = fun(*args)
        out_leaves, out_treedef = flatten(out)
        cotangent = unflatten(out_treedef, [_random_like(o, rng) for o in out_leaves])

        def vjp_fun(*args_and_cotangent):
            *xs, ct = args_and_cotangent
            vjp, _ = make_vjp(fun, argnums)(*xs)
            return vjp(ct)
        check_grads(vjp_fun, *args, cotangent, modes=modes, order=order - 1,
                    eps=eps, rtol=rtol, atol=atol)


def _is_float_argument(x):
    leaves = flatten(x)[0]
    return bool(leaves) and all(
        isinstance(leaf, (float, np.floating)) or (isinstance(leaf, np.ndarray)
                                                   and leaf.dtype.kind == "f")
        for leaf in leaves)


def _checked_arguments(argnum, args):
    """The indices of the arguments to check: `argnum`'s, or every argument
    of floats."""
    if argnum is None:
        return tuple(i for i, a in enumerate(args) if _is_float_argument(a))
    indices, _ = _normalize_argnum(argnum, None, len(args), "check_grads")
    for i in indices:
        if not _is_float_argument(args[i]):
            raise TypeError("check_grads: argument %d holds no floats (%s); derivatives "
                            "are checked with respect to float arguments"
                            % (i, type(args[i]).__name__))
    return tuple(sorted(set(indices)))


def _check_jvp(fun, args, argnum, rng, eps, rtol, atol):
    x_leaves, x_treedef = flatten(args[argnum])
    direction = unflatten(x_treedef, [_random_like(x, rng) for x in x_leaves])
    numeric = _directional_numeric(fun, args, argnum, direction, eps)
    tangents = [unflatten(flatten(a)[1], [np.zeros(np.shape(x)) if np.ndim(x) else 0.0
                                          for x in flatten(a)[0]]) for a in args]
    tangents[argnum] = direction
    _, tangent_out = jvp(fun, args, tuple(tangents))
    for i, (t, n) in enumerate(zip(flatten(tangent_out)[0], numeric)):
        t = np.asarray(t, np.float64)
        if t.shape != n.shape or not np.allclose(t, n, rtol=rtol, atol=atol):
            raise AssertionError(
                "forward-mode derivative of argument %d is wrong (output %d): J v = %s "
                "analytically but %s by central differences" % (argnum, i, t, n))


def _random_like(x, rng):
    if np.ndim(x) == 0 and not isinstance(x, np.ndarray):
        return float(rng.standard_normal())
    return rng.standard_normal(np.shape(x)).astype(np.result_type(x))


def _check_vjp(fun, args, argnum, rng, eps, rtol, atol):
    x_leaves, x_treedef = flatten(args[argnum])
    direction = unflatten(x_treedef, [rng.standard_normal(np.shape(x)) for x in x_leaves])
    numeric = _directional_numeric(fun, args, argnum, direction, eps)
    vjp_fun, out = make_vjp(fun, argnum)(*args)
    out_leaves, out_treedef = flatten(out)
    cotangent = [_random_like(o, rng) for o in out_leaves]
    ct = vjp_fun(unflatten(out_treedef, cotangent))
    analytic = sum(float(np.sum(np.asarray(c, np.float64) * np.asarray(d, np.float64)))
                   for c, d in zip(flatten(ct)[0], flatten(direction)[0]))
    expected = sum(float(np.sum(n * np.asarray(c, np.float64)))
                   for n, c in zip(numeric, cotangent))
    if not np.isclose(analytic, expected, rtol=rtol, atol=atol):
        raise AssertionError(
            "reverse-mode derivative of argument %d is wrong: <cotangent, J v> = %.12g "
            "analytically but %.12g by central differences" % (argnum, analytic, expected))
