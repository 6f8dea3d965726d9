"""autograd's optimizer loops (`autograd.misc.optimizers`): `sgd` (with
momentum), `rmsprop` and `adam`, each `opt(grad, x0, callback=None,
num_iters=..., step_size=..., ...)` with autograd's defaults, calling
`grad(x, i)` at iteration i and `callback(x, i, g)` before each step.

`x0` may be a pytree: each optimizer is written for a flat vector and
wrapped by `unflatten_optimizer`, which flattens `x0` (fastad.flatten),
hands `grad` and `callback` pytrees of x0's structure and returns one.  The
updates are written with fastad.numpy, so an optimization run can itself be
differentiated (with respect to a step size, say), as in autograd.  These
are autograd's loops; `fastad.optim` holds fastad's own steppers.
"""
import functools

import numpy as np

from .. import numpy as fnp
from ..ravel import flatten

__all__ = ["unflatten_optimizer", "sgd", "rmsprop", "adam"]


def unflatten_optimizer(optimize):
    """Wrap an optimizer of flat 1-D vectors, `optimize(grad, x, callback,
    *args, **kwargs)`, into one of pytrees (nested tuples, lists and dicts
    of arrays and floats): x0, the gradients and the callback's values take
    x0's structure.

    >>> def step_once(grad, x, callback=None):
    ...     return x - grad(x, 0)
    >>> step_tree = fastad.misc.optimizers.unflatten_optimizer(step_once)
    >>> step_tree(lambda p, i: {"a": 0.5 * p["a"], "b": p["b"]}, {"a": 2.0, "b": 3.0})
    {'a': 1.0, 'b': 0.0}
    """
    @functools.wraps(optimize)
    def _optimize(grad, x0, callback=None, *args, **kwargs):
        _x0, unflatten = flatten(x0)
        _grad = lambda x, i: flatten(grad(unflatten(x), i))[0]  # noqa: E731
        if callback:
            _callback = lambda x, i, g: callback(unflatten(x), i, unflatten(g))  # noqa: E731
        else:
            _callback = None
        return unflatten(optimize(_grad, _x0, _callback, *args, **kwargs))
    return _optimize


@unflatten_optimizer
def sgd(grad, x, callback=None, num_iters=200, step_size=0.1, mass=0.9):
    """Stochastic gradient descent with momentum: velocity <- mass velocity
    - (1 - mass) g, x <- x + step_size velocity.  `grad(x, i)` gives the
    gradient at iteration i.

    >>> grad = lambda x, i: 2.0 * (x - 3.0)
    >>> x = fastad.misc.optimizers.sgd(grad, numpy.zeros(2), num_iters=300)
    >>> numpy.round(x, 6)
    array([3., 3.])
    """
    velocity = np.zeros(len(x))
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        velocity = mass * velocity - (1.0 - mass) * g
        x = x + step_size * velocity
    return x


@unflatten_optimizer
def rmsprop(grad, x, callback=None, num_iters=100, step_size=0.1, gamma=0.9, eps=10**-8):
    """Root-mean-square propagation: each step divides the gradient by the
    root of a running average of its squares (which starts at ones).

    >>> grad = lambda p, i: {"w": 2.0 * (p["w"] - 1.0)}
    >>> p = fastad.misc.optimizers.rmsprop(grad, {"w": 0.0}, num_iters=200, step_size=0.01)
    >>> round(p["w"], 2)
    1.0
    """
    avg_sq_grad = np.ones(len(x))
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        avg_sq_grad = avg_sq_grad * gamma + g**2 * (1 - gamma)
        x = x - step_size * g / (fnp.sqrt(avg_sq_grad) + eps)
    return x


@unflatten_optimizer
def adam(grad, x, callback=None, num_iters=100, step_size=0.001, b1=0.9, b2=0.999, eps=10**-8):
    """Adam (Kingma and Ba, arXiv:1412.6980): RMSprop with momentum and
    bias-corrected moment estimates.

    >>> objective = lambda p: (p[0] - 2.0) ** 2 + (p[1] + 1.0) ** 2
    >>> grad = lambda p, i: fastad.grad(objective)(p)
    >>> p = fastad.misc.optimizers.adam(grad, [0.0, 0.0], num_iters=1000, step_size=0.05)
    >>> [round(v, 4) for v in p]
    [2.0, -1.0]
    """
    m = np.zeros(len(x))
    v = np.zeros(len(x))
    for i in range(num_iters):
        g = grad(x, i)
        if callback:
            callback(x, i, g)
        m = (1 - b1) * g + b1 * m  # first moment estimate
        v = (1 - b2) * (g**2) + b2 * v  # second moment estimate
        mhat = m / (1 - b1 ** (i + 1))  # bias corrections
        vhat = v / (1 - b2 ** (i + 1))
        x = x - step_size * mhat / (fnp.sqrt(vhat) + eps)
    return x
