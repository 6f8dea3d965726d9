"""The lecture units: affine, relu, logistic (softmax + cross-entropy),
weight decay, and MLP helpers over a pytree of parameters.

Every unit is differentiable to any order.  The fused units (`logistic`,
`softplus`) carry their own rules, which are both faster and numerically
stable where the composition of their parts is not: the logistic unit's
backward is `(softmax(A) - T) / m`, and `softplus(1000)` is 1000, not inf.
"""
import numpy as np

from . import numpy as fnp
from .ops import defprim
from .ops import special
from .ops.special import expit

__all__ = ["affine", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "log_softmax",
           "softmax", "logistic", "decay", "add", "init_mlp", "mlp"]

sigmoid = expit


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`, the last by default (as `jax.nn` and
    `torch` reduce; `fastad.scipy.special.log_softmax` keeps SciPy's default
    of all elements): finite for |x| = 1000.

    >>> fastad.nn.log_softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    array([[-0.69314718, -0.69314718],
           [-1.38629436, -0.28768207]])
    >>> fastad.grad(lambda x: fastad.nn.log_softmax(x)[0])(np.array([0.0, 0.0]))
    array([ 0.5, -0.5])
    """
    return special.log_softmax(x, axis=axis)


def softmax(x, axis=-1):
    """exp(log_softmax(x)) along `axis`, the last by default (as `jax.nn`;
    `fastad.scipy.special.softmax` keeps SciPy's all-elements default),
    stable for large |x|.

    >>> fastad.nn.softmax(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
    array([[0.25, 0.75],
           [0.5 , 0.5 ]])
    """
    return special.softmax(x, axis=axis)
tanh = fnp.tanh
add = fnp.add


def affine(X, W, b):
    """X W + b: the affine unit (rows of X are examples).

    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> fastad.nn.affine(X, np.array([[1.0], [-1.0]]), np.array([0.5]))
    array([[-0.5],
           [-0.5]])
    """
    return fnp.matmul(X, W) + b


def relu(x):
    """max(x, 0); the derivative at 0 is 1/2, as for maximum (JAX's jnp.maximum).

    >>> x = np.array([-1.0, 0.0, 2.0])
    >>> fastad.nn.relu(x), fastad.elementwise_grad(fastad.nn.relu)(x)
    (array([0., 0., 2.]), array([0. , 0.5, 1. ]))
    """
    return fnp.maximum(x, 0.0)


def leaky_relu(x, alpha=0.01):
    """x where x > 0, alpha * x elsewhere; the derivative at 0 is alpha.

    >>> x = np.array([-2.0, 0.0, 3.0])
    >>> fastad.nn.leaky_relu(x), fastad.elementwise_grad(fastad.nn.leaky_relu)(x)
    (array([-0.02,  0.  ,  3.  ]), array([0.01, 0.01, 1.  ]))
    """
    return fnp.where(x > 0, x, alpha * x)


def elu(x, alpha=1.0):
    """x where x > 0, alpha * (exp(x) - 1) elsewhere; the derivative at 0 is
    alpha (1 for the default: ELU is smooth there then), as in JAX.  The
    branch not taken is finite too, so large x gives a finite derivative.

    >>> x = np.array([-1.0, 1000.0])
    >>> fastad.nn.elu(x), fastad.elementwise_grad(fastad.nn.elu)(x)
    (array([  -0.63212056, 1000.        ]), array([0.36787944, 1.        ]))
    """
    # expm1 of 0 where x > 0: the branch not taken stays finite (no 0 * inf =
    # nan), and x = 0 takes the other branch whole (derivative alpha, as JAX;
    # minimum(x, 0) would halve it at the tie)
    return fnp.where(x > 0, x, alpha * fnp.expm1(fnp.where(x > 0, 0.0, x)))


softplus = defprim(
    "softplus", lambda x: np.logaddexp(0.0, x),
    vjps=[lambda g, ans, x: g * expit(x)], jvps=[lambda t, ans, x: t * expit(x)],
    elementwise=True, saves=[(0,)])
softplus.__doc__ = """log(1 + exp(x)), finite for |x| = 1000; derivative sigmoid(x).

>>> fastad.nn.softplus(np.array([-1000.0, 0.0, 1000.0]))
array([   0.        ,    0.69314718, 1000.        ])
>>> fastad.grad(fastad.nn.softplus)(0.0)
0.5
"""


def _logistic_fun(A, T):
    lse = np.logaddexp.reduce(A, axis=1) if A.ndim == 2 else np.logaddexp.reduce(A)
    return np.mean(lse - np.sum(A * T, axis=-1))


def _batch(A):
    return np.shape(A)[0] if np.ndim(A) == 2 else 1


_logistic = defprim(
    "logistic", _logistic_fun,
    vjps=[lambda g, ans, A, T: g * (softmax(A, axis=-1) - T) / float(_batch(A)),
          lambda g, ans, A, T: -g * A / float(_batch(A))],
    jvps=[lambda t, ans, A, T: fnp.sum((softmax(A, axis=-1) - T) * t) / float(_batch(A)),
          lambda t, ans, A, T: -fnp.sum(A * t) / float(_batch(A))],
    saves=[(0, 1), (0,)])


def logistic(A, T):
    """The lecture's logistic unit: softmax of the scores A (m x c) and the
    mean cross-entropy against the targets T (one-hot, or probabilities),
    with the fused backward dA = (softmax(A) - T) / m.

    >>> A, T = np.zeros((2, 2)), np.eye(2)
    >>> print(fastad.nn.logistic(A, T))
    0.6931471805599453
    >>> fastad.grad(fastad.nn.logistic)(A, T)
    array([[-0.25,  0.25],
           [ 0.25, -0.25]])
    """
    return _logistic(A, T)


def decay(Ws, lam):
    """Weight decay lam/2 * sum of squared Frobenius norms of the matrices Ws.

    >>> Ws = [np.array([[1.0, 2.0]]), np.array([[3.0]])]
    >>> print(fastad.nn.decay(Ws, 1.0))
    7.0
    >>> fastad.grad(fastad.nn.decay)(Ws, 0.5)
    [array([[0.5, 1. ]]), array([[1.5]])]
    """
    return 0.5 * lam * sum(fnp.sum(W * W) for W in Ws)


def init_mlp(sizes, rng=None, dtype=np.float64):
    """Parameters of a multilayer perceptron with layer sizes `sizes`: a list
    of {"W", "b"} dicts, He-initialised for relu (W is n_in x n_out, b zero).
    `rng` is a seed or a numpy.random.Generator.

    >>> params = fastad.nn.init_mlp([3, 4, 2], rng=0)
    >>> [(layer["W"].shape, layer["b"].shape) for layer in params]
    [((3, 4), (4,)), ((4, 2), (2,))]
    """
    rng = np.random.default_rng(rng)
    return [{"W": (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(dtype),
             "b": np.zeros(n_out, dtype)}
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def mlp(params, X):
    """Scores of the MLP: affine -> relu -> ... -> affine, one row per row
    of X.

    >>> params = fastad.nn.init_mlp([3, 4, 2], rng=0)
    >>> fastad.nn.mlp(params, np.ones((5, 3))).shape
    (5, 2)
    >>> X, T = np.ones((5, 3)), np.eye(2)[[0, 1, 0, 1, 0]]
    >>> grads = fastad.grad(lambda p: fastad.nn.logistic(fastad.nn.mlp(p, X), T))(params)
    >>> grads[1]["W"].shape
    (4, 2)
    """
    h = X
    for layer in params[:-1]:
        h = relu(affine(h, layer["W"], layer["b"]))
    return affine(h, params[-1]["W"], params[-1]["b"])
