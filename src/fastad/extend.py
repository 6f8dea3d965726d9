"""Extending fastad with your own differentiable functions.

autograd's form::

    @fastad.extend.primitive
    def logsumexp(x):
        ...                                   # plain NumPy
    fastad.extend.defvjp(logsumexp, lambda ans, x: lambda g: g * fnp.exp(x - ans))
    fastad.extend.defjvp(logsumexp, lambda g, ans, x: fnp.sum(g * fnp.exp(x - ans)))

JAX's form::

    @fastad.custom_vjp
    def f(x, y): ...
    def f_fwd(x, y): return f(x, y), residuals
    def f_bwd(residuals, g): return (x_bar, y_bar)
    f.defvjp(f_fwd, f_bwd)

Rules written with fastad.numpy are differentiable again: a custom rule is
used in every mode it defines and nests like a built-in one.
"""
import functools
import threading

import numpy as np

from . import _tape
from .ops.tracing import TRACED as _TRACED
from .tree import flatten, unflatten

__all__ = ["primitive", "defvjp", "defjvp", "custom_vjp", "flatten", "unflatten"]


def _undefined(kind, name, hint):
    def rule(position, *args, **kwargs):
        raise NotImplementedError(
            "%s of %s with respect to argument %d is not defined; %s"
            % (kind, name, position, hint))
    return rule


def primitive(fun):
    """Make `fun` (written with plain NumPy) a fastad primitive, returned
    as a function that calls `fun` on plain arguments and records one
    operation for traced ones, whose derivatives come from
    `defvjp`/`defjvp`.  Differentiating before they are defined raises
    NotImplementedError naming the function.

    >>> @fastad.extend.primitive
    ... def logsumexp(x):
    ...     m = numpy.max(x)
    ...     return m + numpy.log(numpy.sum(numpy.exp(x - m)))
    ...
    >>> fastad.extend.defvjp(logsumexp, lambda ans, x: lambda g: g * np.exp(x - ans))
    >>> fastad.grad(logsumexp)(np.zeros(2))
    array([0.5, 0.5])
    """
    name = getattr(fun, "__name__", "primitive")
    prim = _tape.Primitive(
        name, fun, vjps=(), jvps=(),
        vjp_variadic=_undefined("the VJP", name, "define it with fastad.extend.defvjp"),
        jvp_variadic=_undefined("the JVP", name, "define it with fastad.extend.defjvp"))
    functools.update_wrapper(prim, fun)
    return prim


def _shape_error(name, rule, what, position, shape, expected):
    return ValueError(
        "%s: %s returned a %s of shape %s for argument %d, whose shape is %s; a rule "
        "must return one of exactly the argument's shape (sum it over any axes the "
        "function broadcast the argument along)"
        % (name, rule, what, shape, position, expected))


def _checked_cotangent(c, arg, name, rule, position):
    """`c`, the cotangent a user's rule returned for argument `position`,
    refused unless it has the argument's shape (as JAX requires): the
    sweep would otherwise sum it over axes that were never broadcast."""
    if c is None:
        return None
    shape, expected = np.shape(c), np.shape(arg)
    if shape != expected:
        raise _shape_error(name, rule, "cotangent", position, shape, expected)
    return c


def _checked_tangent(t, ans, name, position):
    """`t`, the output tangent a user's JVP rule returned, refused unless it
    broadcasts to the output's shape (the sweep broadcasts it there)."""
    shape, expected = np.shape(t), np.shape(ans)
    try:
        fits = np.broadcast_shapes(shape, expected) == expected
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            "%s: the JVP rule of argument %d (defjvp) returned a tangent of shape %s, which "
            "does not broadcast to the output's shape %s; return the output's tangent"
            % (name, position, shape, expected))
    return t


def _check_primitive(prim, what):
    if not isinstance(prim, _tape.Primitive):
        raise TypeError("%s expects a function made with fastad.extend.primitive, got %r"
                        % (what, prim))


def defvjp(prim, *vjp_makers, argnums=None):
    """Define the VJPs of `prim`, autograd style: one maker per positional
    argument (or per entry of `argnums`), each `maker(ans, *args, **kwargs)`
    returning `g -> cotangent`; None for an argument with no derivative.
    A maker of None means a zero derivative (autograd's convention); an
    argument given no maker at all raises NotImplementedError when it is
    differentiated.  A call replaces the VJPs of earlier calls.

    >>> @fastad.extend.primitive
    ... def mul(x, y):
    ...     return x * y
    ...
    >>> fastad.extend.defvjp(mul, lambda ans, x, y: lambda g: g * y,
    ...                      lambda ans, x, y: lambda g: g * x)
    >>> fastad.grad(mul, argnums=(0, 1))(2.0, 3.0)
    (3.0, 2.0)
    """
    _check_primitive(prim, "defvjp")
    argnums = tuple(argnums) if argnums is not None else tuple(range(len(vjp_makers)))
    missing = _undefined("the VJP", prim.name, "give defvjp a maker for it (None for a "
                         "zero derivative)")
    rules = [functools.partial(missing, position)
             for position in range(max(argnums) + 1 if argnums else 0)]
    for position, maker in zip(argnums, vjp_makers):
        rules[position] = _from_maker(maker, prim.name, position) if maker is not None else None
    prim.vjps = tuple(rules)
    prim.vjp_variadic = missing


def _from_maker(maker, name, position):
    rule_name = "the VJP rule of argument %d (defvjp)" % position

    def rule(g, ans, *args, **kwargs):
        return _checked_cotangent(maker(ans, *args, **kwargs)(g), args[position], name,
                                  rule_name, position)
    return rule


def defjvp(prim, *jvp_funs, argnums=None):
    """Define the JVPs of `prim`, autograd style: one function per
    positional argument, `jvp(g, ans, *args, **kwargs)` returning the
    output tangent contributed by tangent `g` of that argument (summed
    over the arguments).  This gives the primitive forward mode (`jvp`,
    `deriv`, `jacfwd`, ...); reverse mode needs `defvjp`.

    >>> @fastad.extend.primitive
    ... def cube(x):
    ...     return x ** 3
    ...
    >>> fastad.extend.defjvp(cube, lambda g, ans, x: 3.0 * x ** 2 * g)
    >>> fastad.jvp(cube, (2.0,), (1.0,))
    (8.0, 12.0)
    """
    _check_primitive(prim, "defjvp")
    argnums = tuple(argnums) if argnums is not None else tuple(range(len(jvp_funs)))
    missing = _undefined("the JVP", prim.name, "give defjvp a rule for it (None for a "
                         "zero derivative)")
    rules = [functools.partial(missing, position)
             for position in range(max(argnums) + 1 if argnums else 0)]
    for position, rule in zip(argnums, jvp_funs):
        rules[position] = _checked_jvp(rule, prim.name, position) if rule is not None else None
    prim.jvps = tuple(rules)
    prim.jvp_variadic = missing


def _checked_jvp(jvp, name, position):
    def rule(g, ans, *args, **kwargs):
        return _checked_tangent(jvp(g, ans, *args, **kwargs), ans, name, position)
    return rule


class custom_vjp:
    """JAX-style custom VJP: decorate `fun`, then `.defvjp(fwd, bwd)` (which
    returns the function) where `fwd(*args)` returns `(output, residuals)`
    and `bwd(residuals, g)` returns a tuple of one cotangent per positional
    argument (None for none), each of its argument's shape.

    `fwd` runs on the traced arguments, so residuals computed from them stay
    traced and `bwd` (written with fastad.numpy) can be differentiated
    again.  Forward mode is not defined for a custom VJP.

    >>> @fastad.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    ...
    >>> _ = clip_gradient.defvjp(lambda x: (x, None),  # fwd: (output, residuals)
    ...                          lambda res, g: (np.clip(g, -1.0, 1.0),))  # bwd
    >>> fastad.grad(lambda x: 3.0 * clip_gradient(x))(2.0)  # 3.0, clipped
    1.0
    """

    def __init__(self, fun):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd = self.bwd = None
        self._in_fwd = threading.local()

    def defvjp(self, fwd, bwd):
        self.fwd, self.bwd = fwd, bwd
        return self

    def __call__(self, *args):
        if getattr(self._in_fwd, "active", False) or not any(
                type(leaf) in _TRACED for a in args for leaf in flatten(a)[0]):
            # plain arguments, or `fwd` calling the function itself (JAX idiom)
            return self.fun(*args)
        if self.fwd is None:
            raise NotImplementedError(
                "%s is a custom_vjp function without rules; call .defvjp(fwd, bwd)"
                % self.__name__)
        for i, a in enumerate(args):
            if isinstance(a, (tuple, list, dict)):
                raise TypeError("%s: custom_vjp arguments must be floats or arrays, not "
                                "pytrees (argument %d)" % (self.__name__, i))
        self._in_fwd.active = True
        try:
            out, residuals = self.fwd(*args)
        finally:
            self._in_fwd.active = False
        res_leaves, res_treedef = flatten(residuals)
        n, r, bwd, name = len(args), len(res_leaves), self.bwd, self.__name__
        cache = {}

        def cotangents(g, all_args):
            key = id(g)
            if key not in cache:
                result = bwd(unflatten(res_treedef, list(all_args[n:n + r])), g)
                if not isinstance(result, tuple) or len(result) != n:
                    raise ValueError("%s: bwd must return a tuple of %d cotangents, got %r"
                                     % (name, n, type(result).__name__))
                rule = "the bwd rule %s" % getattr(bwd, "__name__", "of its custom_vjp")
                for k in range(n):
                    _checked_cotangent(result[k], all_args[k], name, rule, k)
                cache.clear()
                cache[key] = (g, result)
            return cache[key][1]

        def make_rule(k):
            return lambda g, ans, *all_args: cotangents(g, all_args)[k]

        # The value is fwd's output, passed as the last argument (with no
        # derivative: bwd gives the arguments' cotangents) rather than kept as
        # a constant, so that a recorded tape's replay, which re-evaluates
        # fwd's operations, gives the output at the new inputs.
        prim = _tape.Primitive(
            name, _output_of_fwd,
            vjps=[make_rule(k) for k in range(n)] + [_no_cotangent] * r + [None],
            jvps=(), jvp_variadic=_undefined("the JVP", name,
                                             "custom_vjp functions support reverse mode only"))
        return prim(*args, *res_leaves, out)


def _output_of_fwd(*all_args):
    """A custom_vjp primitive's value: fwd's output, its last argument."""
    return all_args[-1]


def _no_cotangent(g, ans, *args):
    """Residuals are inputs of bwd, not of the function: no cotangent."""
    return None
