"""Plain `numpy.*` calls on traced values differentiate like fastad.numpy's
(existing NumPy code works without changing its imports)."""
import numpy
import pytest

import fastad as fd

# (function, domain, extra arguments): 69 of the most used NumPy functions
UFUNCS = ["sin", "cos", "tan", "exp", "log", "log1p", "expm1", "sqrt", "square", "tanh", "sinh",
          "cosh", "arctan", "arcsin", "arccos", "negative", "absolute", "log2", "log10", "exp2",
          "reciprocal", "cbrt", "positive"]
BINARY_UFUNCS = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "hypot",
                 "arctan2", "logaddexp"]
FUNCTIONS = [
    ("sum", ()), ("mean", ()), ("prod", ()), ("max", ()), ("min", ()), ("transpose", ()),
    ("ravel", ()), ("squeeze", ()), ("expand_dims", (0,)), ("var", ()), ("std", ()),
    ("cumsum", ()), ("diff", ()), ("flip", ()), ("roll", (1,)), ("tile", (2,)), ("repeat", (2,)),
    ("trace", ()), ("diag", ()), ("triu", ()), ("tril", ()), ("sort", ()), ("clip", (0.6, 1.4)),
    ("reshape", ((-1,),)), ("diagonal", ()), ("average", ()), ("rot90", ()), ("cumprod", ()),
    ("atleast_2d", ()),
]
PAIRS = ["dot", "matmul", "outer", "inner", "vdot", "tensordot", "kron"]
LINALG = ["det", "inv", "norm", "slogdet"]


def check_rev(fun, *args):
    fd.check_grads(fun, *args, modes=("rev",), order=1)


@pytest.fixture
def x(rng):
    return rng.uniform(0.5, 1.5, (3, 3))


@pytest.mark.parametrize("name", UFUNCS)
def test_ufuncs(name, x):
    fun = getattr(numpy, name)
    check_rev(lambda a: fun(a * 0.5), x)
    assert fd.grad(lambda s: fun(s * 0.5))(0.7) == pytest.approx(
        fd.numerical_grad(lambda s: fun(s * 0.5), 0.7), rel=1e-7)


@pytest.mark.parametrize("name", BINARY_UFUNCS)
def test_binary_ufuncs(name, x):
    fun = getattr(numpy, name)
    check_rev(lambda a, b: fun(a, b), x, x.T + 0.1)
    check_rev(lambda a: fun(numpy.ones(3), a), x)  # ndarray first: NumPy defers to fastad


@pytest.mark.parametrize("case", FUNCTIONS, ids=lambda c: c[0])
def test_functions(case, x):
    name, extra = case
    fun = getattr(numpy, name)
    check_rev(lambda a: fun(a, *extra), x)


@pytest.mark.parametrize("name", PAIRS)
def test_products(name, x):
    fun = getattr(numpy, name)
    check_rev(lambda a, b: fun(a, b), x, x[::-1])


@pytest.mark.parametrize("name", LINALG)
def test_linalg(name, x):
    fun = getattr(numpy.linalg, name)
    check_rev(lambda a: fun(a + numpy.eye(3))[-1] if name == "slogdet" else fun(a + numpy.eye(3)), x)


def test_structural_functions(x):
    check_rev(lambda a: numpy.concatenate([a, a * 2]), x)
    check_rev(lambda a: numpy.stack([a, a ** 2], axis=1), x)
    check_rev(lambda a: numpy.where(a > 1.0, a, -a), x)
    check_rev(lambda a: numpy.vstack([a, a]) + numpy.hstack([a, a]).sum(), x)
    check_rev(lambda a: numpy.einsum("ij,jk->ik", a, a), x)
    check_rev(lambda a: numpy.linalg.solve(a + numpy.eye(3), numpy.ones(3)), x)


def test_count_of_covered_numpy_functions():
    count = (len(UFUNCS) + len(BINARY_UFUNCS) + len(FUNCTIONS) + len(PAIRS) + len(LINALG) + 8)
    assert count >= 60


def test_function_without_rule_names_it(x):
    with pytest.raises(TypeError, match="numpy.nanmedian has no differentiation rule"):
        fd.grad(lambda a: numpy.nanmedian(a))(x)
    with pytest.raises(TypeError, match="numpy.linalg.matrix_rank has no differentiation rule"):
        fd.grad(lambda a: numpy.linalg.matrix_rank(a))(x)
