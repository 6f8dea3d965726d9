"""fastad: compiled, tape-based automatic differentiation for Python.

    import fastad as fd
    import fastad.numpy as np

    fd.grad(lambda x: np.sum(np.tanh(x) ** 2))(np.ones(3))

Operators follow autograd (`argnum`) and JAX (`argnums`).  The tape, the
traced types and the sweeps are the compiled extension `fastad._tape`.
"""
from ._version import __version__
from . import _tape
from ._tape import Scalar, Array, Primitive, TracerError, RetapeRequired
from . import numpy
from . import scipy
from .core import grad, value_and_grad, elementwise_grad, vjp, make_vjp, holomorphic_grad
from .forward import (jvp, make_jvp, deriv, jacfwd, jacrev, jacobian, hessian, hvp,
                      make_hvp)
from .checks import numerical_grad, check_grads
from .tree import tree_map
from .debug import debug_nans
from . import extend
from . import nn
from . import optim
from . import optimize
from .taylor import taylor
from .recorded import record, Tape
from .batching import vmap
from .sparse_derivatives import jacobian_sparsity, hessian_sparsity, sparse_jacobian, sparse_hessian
from .extend import custom_vjp, primitive
from .ravel import flatten, ravel_pytree
from .derivative_products import (hessian_tensor_product, hessian_vector_product,
                                  tensor_jacobian_product, vector_jacobian_product, make_ggnvp,
                                  grad_and_aux)
from . import misc

_tape._bind_numpy(numpy)


def __getattr__(name):
    # fastad.distributed and fastad.ipopt import on first use (optional: Dask, cyipopt)
    if name in ("distributed", "ipopt"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module 'fastad' has no attribute %r" % name)

__all__ = [
    "__version__", "grad", "value_and_grad", "elementwise_grad", "vjp", "make_vjp",
    "jvp", "make_jvp", "deriv", "jacfwd", "jacrev", "jacobian", "hessian", "hvp", "make_hvp",
    "taylor", "record", "RetapeRequired", "debug_nans", "nn", "optim", "optimize",
    "numerical_grad", "check_grads", "tree_map", "Tape", "Scalar", "Array",
    "Primitive", "TracerError", "numpy", "scipy", "extend", "custom_vjp", "primitive",
    "flatten", "ravel_pytree", "hessian_tensor_product", "hessian_vector_product",
    "tensor_jacobian_product", "vector_jacobian_product", "make_ggnvp", "grad_and_aux", "misc",
    "holomorphic_grad", "vmap", "jacobian_sparsity", "hessian_sparsity", "sparse_jacobian",
    "sparse_hessian",
]
