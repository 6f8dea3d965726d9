"""autograd's `autograd.misc` on fastad: `flatten` (a pytree as one vector
and back; also `fastad.flatten`), `fixed_point` (a fixed point
differentiated by the implicit function theorem) and the `optimizers`
module (autograd's `sgd`, `rmsprop` and `adam` loops), so that
`from autograd.misc import flatten` and `from autograd.misc.optimizers
import adam` port by changing the package name.
"""
from ..ravel import flatten
from .fixed_points import fixed_point
from . import optimizers

__all__ = ["flatten", "fixed_point", "optimizers"]
