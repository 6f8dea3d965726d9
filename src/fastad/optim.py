"""Gradient-descent steppers over pytrees of parameters, for a plain loop::

    opt = fastad.optim.adam(lr=1e-3)
    for batch in batches:
        loss, grads = fastad.value_and_grad(loss_fn)(params, batch)
        params = opt.step(params, grads)

The learning rate is a number or a schedule `t -> rate` (t counts steps from
0): `constant(rate)` or `robbins_monro(a, b)` = a / (b + t), whose rates sum
to infinity while their squares do not, as stochastic approximation needs.
"""
import numpy as np

from .tree import flatten, unflatten

__all__ = ["constant", "robbins_monro", "sgd", "momentum", "adam", "Optimizer"]


def constant(rate):
    """The schedule t -> rate.

    >>> schedule = fastad.optim.constant(0.1)
    >>> schedule(0), schedule(100)
    (0.1, 0.1)
    """
    return lambda t: rate


def robbins_monro(a, b=1.0):
    """The schedule t -> a / (b + t); a and b must be positive.

    >>> schedule = fastad.optim.robbins_monro(2.0, 2.0)
    >>> [schedule(t) for t in (0, 2, 6)]
    [1.0, 0.5, 0.25]
    """
    if a <= 0 or b <= 0:
        raise ValueError("robbins_monro needs a > 0 and b > 0, got a=%r, b=%r" % (a, b))
    return lambda t: a / (b + t)


class Optimizer:
    """A stepper: `step(params, grads)` returns the updated parameters (a new
    pytree of the same structure and dtypes); its state (step count, moments)
    lives in the object, and `t` counts the steps taken.  `lr` is a number
    or a schedule `t -> rate`.  The steppers are its subclasses `sgd`,
    `momentum` and `adam`.

    >>> opt = fastad.optim.sgd(lr=0.25)
    >>> x = 0.0
    >>> for _ in range(3):
    ...     x = opt.step(x, fastad.grad(lambda x: (x - 3.0) ** 2)(x))
    >>> x, opt.t
    (2.625, 3)
    """

    def __init__(self, lr):
        self.schedule = lr if callable(lr) else constant(float(lr))
        self.t = 0
        self.state = None
        self.treedef = None

    def step(self, params, grads):
        p_leaves, treedef = flatten(params)
        g_leaves, g_treedef = flatten(grads)
        if g_treedef != treedef:
            raise ValueError("optimizer step: gradients have structure %r but parameters %r"
                             % (g_treedef, treedef))
        if self.treedef is None:
            self.treedef = treedef
            self.state = self._init([np.asarray(p) for p in p_leaves])
        elif treedef != self.treedef:
            raise ValueError("optimizer step: the parameters changed structure between steps")
        rate = self.schedule(self.t)
        new = self._update(rate, [np.asarray(p) for p in p_leaves],
                           [np.asarray(g) for g in g_leaves])
        self.t += 1
        out = [n.astype(np.asarray(p).dtype, copy=False) if np.ndim(p) else type(p)(n)
               for n, p in zip(new, p_leaves)]
        return unflatten(treedef, out)

    def _init(self, params):
        return None

    def _update(self, rate, params, grads):
        raise NotImplementedError


class sgd(Optimizer):
    """x <- x - rate * g

    >>> opt = fastad.optim.sgd(lr=0.1)
    >>> opt.step({"w": 1.0, "b": np.array([0.0, 1.0])}, {"w": 2.0, "b": np.array([1.0, -1.0])})
    {'w': 0.8, 'b': array([-0.1,  1.1])}
    """

    def _update(self, rate, params, grads):
        return [p - rate * g for p, g in zip(params, grads)]


class momentum(Optimizer):
    """v <- beta v + g; x <- x - rate * v (heavy ball), v starting at 0.

    >>> opt = fastad.optim.momentum(lr=0.5, beta=0.5)
    >>> x = opt.step(1.0, 1.0)
    >>> x, opt.step(x, 1.0)
    (0.5, -0.25)
    """

    def __init__(self, lr, beta=0.9):
        super().__init__(lr)
        self.beta = beta

    def _init(self, params):
        return [np.zeros_like(p, dtype=np.result_type(p, np.float32)) for p in params]

    def _update(self, rate, params, grads):
        self.state = [self.beta * v + g for v, g in zip(self.state, grads)]
        return [p - rate * v for p, v in zip(params, self.state)]


class adam(Optimizer):
    """Adam (Kingma and Ba): bias-corrected first and second moments.  The
    first step moves each parameter by about `lr` against its gradient's sign.

    >>> opt = fastad.optim.adam(lr=0.1)
    >>> opt.step(np.array([1.0, -1.0]), np.array([2.0, -0.5]))
    array([ 0.9, -0.9])
    """

    def __init__(self, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        super().__init__(lr)
        self.b1, self.b2, self.eps = b1, b2, eps

    def _init(self, params):
        return ([np.zeros_like(p, dtype=np.result_type(p, np.float32)) for p in params],
                [np.zeros_like(p, dtype=np.result_type(p, np.float32)) for p in params])

    def _update(self, rate, params, grads):
        m, v = self.state
        m = [self.b1 * mi + (1 - self.b1) * g for mi, g in zip(m, grads)]
        v = [self.b2 * vi + (1 - self.b2) * g * g for vi, g in zip(v, grads)]
        self.state = (m, v)
        t = self.t + 1
        c1, c2 = 1 - self.b1 ** t, 1 - self.b2 ** t
        return [p - rate * (mi / c1) / (np.sqrt(vi / c2) + self.eps)
                for p, mi, vi in zip(params, m, v)]
