"""Logic functions and type queries (NumPy's "logic functions", and
result_type of its data type routines): whole-array comparisons, the
infinity tests and the real/complex queries, all with plain results.
"""
import numpy as np

from . import defprim
from .tracing import plain_value


# -- predicates and queries: plain results (recorded tapes guard the
# predicates, as they guard comparisons) ---------------------------------------------

allclose = defprim("allclose", np.allclose)
isclose = defprim("isclose", np.isclose)
array_equal = defprim("array_equal", np.array_equal)
array_equiv = defprim("array_equiv", np.array_equiv)
isposinf = defprim("isposinf", np.isposinf)
isneginf = defprim("isneginf", np.isneginf)


def iscomplex(x):
    return np.iscomplex(plain_value(x))


def isreal(x):
    return np.isreal(plain_value(x))


def iscomplexobj(x):
    return np.iscomplexobj(plain_value(x))


def isrealobj(x):
    return np.isrealobj(plain_value(x))


def result_type(*arrays_and_dtypes):
    return np.result_type(*[plain_value(a) for a in arrays_and_dtypes])
