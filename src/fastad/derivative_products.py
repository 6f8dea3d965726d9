"""Products of derivatives with tensors, autograd's operators of that kind:
`hessian_tensor_product` (also `hessian_vector_product`),
`tensor_jacobian_product` (also `vector_jacobian_product`), `make_ggnvp`
(generalized Gauss-Newton-vector products), and `grad_and_aux` (the
gradient, the cotangent of ones pulled back, beside an auxiliary output).

Each is the composition of fastad's operators that autograd 1.9.1 defines
(`autograd/differential_operators.py`), with autograd's signatures: the
tensor is the last positional argument of the function returned.  Where
autograd contracts the tensor with `tensordot`, fastad contracts leaf by
leaf, which is the same for arrays and extends to pytree arguments.
"""
import functools

from .core import grad, make_vjp
from .forward import jacobian, make_hvp, make_jvp
from .ops.products import tensordot
from .ops.reductions import sum as _sum
from .ops.elementwise import add
from .tree import flatten, describe_structures

__all__ = ["hessian_tensor_product", "hessian_vector_product", "tensor_jacobian_product",
           "vector_jacobian_product", "make_ggnvp", "grad_and_aux"]


def _contract(a, b, opname):
    """The full contraction <a, b> of two pytrees of one structure (b's
    leaves may have fewer, leading, axes: tensordot over b's axes)."""
    a_leaves, a_def = flatten(a)
    b_leaves, b_def = flatten(b)
    if a_def != b_def:
        raise ValueError("%s: the tensor has structure %s but the argument %s"
                         % ((opname,) + describe_structures(b_def, a_def)))
    total = 0.0
    for x, v in zip(a_leaves, b_leaves):
        total = add(total, tensordot(x, v, _ndim(v)))
    return total


def _ndim(v):
    return len(getattr(v, "shape", ()))


def hessian_tensor_product(fun, argnum=0):
    """Return a function of `(*args, tensor)` computing the Hessian of
    scalar `fun` (with respect to argument `argnum`) contracted with
    `tensor`, which has that argument's shape: `H v` for a vector, without
    forming `H` (the gradient of `<grad fun, v>`, autograd's definition).
    Also named `hessian_vector_product`.

    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> fastad.hessian_tensor_product(f)(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([4., 2.])
    """
    fun_grad = grad(fun, argnum)

    def vector_dot_grad(*args, **kwargs):
        args, tensor = args[:-1], args[-1]
        return _contract(fun_grad(*args, **kwargs), tensor, "hessian_tensor_product")

    return functools.wraps(fun)(grad(vector_dot_grad, argnum))


hessian_vector_product = hessian_tensor_product


def tensor_jacobian_product(fun, argnum=0):
    """Return a function of `(*args, tensor)` computing `tensor` contracted
    with the Jacobian of `fun` over the output's axes (the leading ones when
    `tensor` has fewer): the vector-Jacobian product `v^T J` for a vector
    of the output's shape, in the shape of argument `argnum`.  Also named
    `vector_jacobian_product`.

    >>> f = lambda x: np.array([x[0] * x[1], x[0] + x[1]])
    >>> fastad.tensor_jacobian_product(f)(np.array([2.0, 3.0]), np.array([1.0, 10.0]))
    array([13., 12.])
    """
    def vector_dot_fun(*args, **kwargs):
        args, tensor = args[:-1], args[-1]
        out = fun(*args, **kwargs)
        return tensordot(tensor, out, axes=_ndim(tensor))

    return functools.wraps(fun)(jacobian(vector_dot_fun, argnum))


vector_jacobian_product = tensor_jacobian_product


def _half_sum_of_squares(x):
    return 0.5 * _sum(x ** 2, axis=-1)


def make_ggnvp(f, g=_half_sum_of_squares, f_argnum=0):
    """Generalized Gauss-Newton-vector products: `make_ggnvp(f, g)(*args)`
    returns `ggnvp(v) = J^T H J v`, with `J` the Jacobian of `f` at `args`
    (with respect to argument `f_argnum`) and `H` the Hessian of scalar `g`
    at `f(*args)`; by default `g(y) = 1/2 sum(y ** 2, axis=-1)`, so that
    `H = I`.  `f` is recorded once; each call is a forward sweep, a
    Hessian-vector product of `g` and a reverse sweep.

    >>> f = lambda x: np.array([x[0] * x[1], x[0] + x[1]])
    >>> ggnvp = fastad.make_ggnvp(f)(np.array([2.0, 3.0]))
    >>> ggnvp(np.array([1.0, 0.0]))     # J^T J e_0, J = [[3, 2], [1, 1]]
    array([10.,  7.])
    """
    def make(*args, **kwargs):
        f_vjp, f_x = make_vjp(f, f_argnum)(*args, **kwargs)
        f_jvp = make_jvp(f, f_argnum)(*args, **kwargs)
        g_hvp, _ = make_hvp(g)(f_x)

        def ggnvp(v):
            return f_vjp(g_hvp(f_jvp(v)[1]))
        return ggnvp
    return make


def grad_and_aux(fun, argnum=0):
    """Return a function computing `(gradient, aux)` where `fun` returns
    `(output, aux)`: the gradient of the scalar output with respect to
    argument `argnum`, and `aux` as it is (plain values).  autograd's name
    for `fastad.grad(fun, argnum, has_aux=True)`.

    >>> fastad.grad_and_aux(lambda x: (x ** 2, "x is %.1f" % x.value))(3.0)
    (6.0, 'x is 3.0')
    """
    return grad(fun, argnum, has_aux=True)
