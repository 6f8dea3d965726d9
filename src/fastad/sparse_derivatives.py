"""The sparse operators: `jacobian_sparsity`, `hessian_sparsity`,
`sparse_jacobian` and `sparse_hessian` of a function, by recording it at
the point (the differentiated argument traced, the others held) and asking
the tape (see `fastad.sparsity` for how patterns and colours are found)."""
import numpy as np

from . import sparsity
from .recorded import Tape


def _tape_of(fun, args, argnum, opname):
    if not isinstance(argnum, (int, np.integer)) or isinstance(argnum, bool):
        raise TypeError("%s: argnum must be an int, got %r" % (opname, argnum))
    if not -len(args) <= argnum < len(args):
        raise ValueError("%s: argnum %d is out of range for %d arguments"
                         % (opname, argnum, len(args)))
    argnum %= len(args)
    x = args[argnum]
    if isinstance(x, (tuple, list, dict)):
        raise TypeError("%s: the differentiated argument must be a float or an array, got %s"
                        % (opname, type(x).__name__))

    def at(value):
        full = list(args)
        full[argnum] = value
        return fun(*full)
    return Tape(at, (x,), False, True), x


def jacobian_sparsity(fun, x):
    """The structural pattern of the Jacobian of `fun` at `x` (a float or
    an array): a boolean `scipy.sparse.coo_array` of shape (output size,
    input size), True where an output element depends on an input element
    through the operations recorded at `x` (see `fastad.sparsity`).

    >>> fastad.jacobian_sparsity(lambda x: x[1:] * x[:-1], np.ones(4)).toarray()
    array([[ True,  True, False, False],
           [False,  True,  True, False],
           [False, False,  True,  True]])
    """
    return _tape_of(fun, (x,), 0, "jacobian_sparsity")[0].jacobian_sparsity()


def hessian_sparsity(fun, x):
    """The structural pattern of the Hessian of scalar `fun` at `x`: a
    symmetric boolean `scipy.sparse.coo_array` (the Jacobian pattern of
    the recorded gradient).

    >>> fastad.hessian_sparsity(lambda x: np.sum(x[1:] * x[:-1]), np.ones(3)).toarray()
    array([[False,  True, False],
           [ True, False,  True],
           [False,  True, False]])
    """
    return _tape_of(fun, (x,), 0, "hessian_sparsity")[0].hessian_sparsity()


def sparse_jacobian(fun, argnum=0, mode="auto", format="coo"):
    """A function returning the Jacobian of `fun` with respect to argument
    `argnum` as a `scipy.sparse.coo_array` of shape (output size, input
    size), from one forward sweep per colour of its columns.  Coordinates
    are the pattern's, in row-major order, explicit zeros kept; `format`
    "csr" or "csc" gives that array instead.  `mode` is "auto", "fwd" or
    "rev" (accepted for the signature; the sweep is forward).

    >>> J = fastad.sparse_jacobian(lambda x: x[1:] * x[:-1])(np.array([1.0, 2.0, 3.0]))
    >>> J.toarray()
    array([[2., 1., 0.],
           [0., 3., 2.]])
    """
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError("sparse_jacobian: mode must be 'auto', 'fwd' or 'rev', got %r" % (mode,))
    sparsity.check_format(format, "sparse_jacobian")

    def jacobian_fun(*args):
        tape, x = _tape_of(fun, args, argnum, "sparse_jacobian")
        return tape.sparse_jacobian(x, format=format)
    return jacobian_fun


def sparse_hessian(fun, argnum=0, format="coo"):
    """A function returning the Hessian of scalar `fun` with respect to
    argument `argnum` as a `scipy.sparse.coo_array`, from one
    forward-over-reverse sweep per colour; coordinates in row-major order,
    explicit zeros kept (`format` "csr" or "csc": that array instead).

    >>> H = fastad.sparse_hessian(lambda x: np.sum(x[1:] * x[:-1] ** 2))(np.array([1.0, 2.0, 3.0]))
    >>> H.toarray()
    array([[4., 2., 0.],
           [2., 6., 4.],
           [0., 4., 0.]])
    """
    sparsity.check_format(format, "sparse_hessian")

    def hessian_fun(*args):
        tape, x = _tape_of(fun, args, argnum, "sparse_hessian")
        return tape.sparse_hessian(x, format=format)
    return hessian_fun

