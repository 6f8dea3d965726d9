"""Sparsity patterns and sparse derivatives: a pattern never misses a
nonzero of the dense derivative, is exact on the standard structures
(stencils, chained Rosenbrock, loops over x[i]), and the sparse values equal
the dense ones on every coordinate."""
import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp

RNG = np.random.default_rng(11)


def rosenbrock(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def stencil_loop(x):
    return fnp.stack([x[i - 1] - 2.0 * x[i] + x[i + 1] + fnp.exp(x[i])
                      for i in range(1, len(x) - 1)])


def bratu(x):
    u = fnp.reshape(x, (6, 6))
    inner = u[1:-1, 1:-1]
    lap = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4.0 * inner
    return fnp.ravel(lap + 0.5 * fnp.exp(inner))


JACOBIAN_CASES = {
    "elementwise": (lambda x: fnp.sin(x) * x ** 2, 5, 5),
    "shifted products": (lambda x: x[1:] * x[:-1], 6, 10),
    "stencil loop": (stencil_loop, 12, 30),
    "bratu": (bratu, 36, 16 * 5),
    "concatenate and broadcast": (
        lambda x: fnp.concatenate([x[:3] * x[3], fnp.tanh(x[::-1])]), 7, 3 * 2 + 7),
    "where and reversed": (lambda x: fnp.where(x > 0.5, x, x[::-1] ** 2), 6, None),
    "reduction (every element)": (lambda x: fnp.sum(x ** 2) * x, 4, 16),
    "matrix product (dense rows)": (lambda x: np.ones((2, 5)) @ fnp.sin(x), 5, 10),
}


@pytest.mark.parametrize("name", list(JACOBIAN_CASES))
def test_jacobian_pattern_and_values(name):
    fun, n, nnz = JACOBIAN_CASES[name]
    x = RNG.uniform(0.1, 1.0, n)
    dense = np.atleast_2d(fd.jacobian(fun)(x))
    pattern = fd.jacobian_sparsity(fun, x).toarray()
    assert pattern.shape == dense.shape
    assert not np.any(dense[~pattern]), "a nonzero outside the pattern"
    if nnz is not None:
        assert pattern.sum() == nnz
    J = fd.sparse_jacobian(fun)(x)
    assert J.shape == dense.shape and J.nnz == pattern.sum()
    np.testing.assert_allclose(J.toarray(), dense, rtol=1e-14, atol=1e-14)
    # the same coordinates, in row-major order, at another point
    J2 = fd.sparse_jacobian(fun)(x * 0.9)
    np.testing.assert_array_equal(J.row, J2.row)
    np.testing.assert_array_equal(J.col, J2.col)
    assert np.all(np.diff(J.row * n + J.col) > 0)


def test_hessian_patterns_are_exact_on_chained_problems():
    x = RNG.uniform(-1.0, 1.0, 1000)
    pattern = fd.hessian_sparsity(rosenbrock, x)
    assert pattern.nnz == 2998  # the tridiagonal band
    H = fd.sparse_hessian(rosenbrock)(x)
    np.testing.assert_allclose(H.toarray(), fd.hessian(rosenbrock)(x), rtol=1e-13, atol=1e-10)
    colours, k = fd.sparsity.colour_columns(pattern.tocsr())
    assert k == 3


def test_hessian_of_a_loop_and_of_a_product():
    fun = lambda x: sum(x[i] * x[i + 1] ** 2 for i in range(len(x) - 1)) + fnp.sum(x) ** 2  # noqa: E731
    x = RNG.uniform(0.1, 1.0, 6)
    dense = fd.hessian(fun)(x)
    pattern = fd.hessian_sparsity(fun, x).toarray()
    assert not np.any(dense[~pattern])
    assert (pattern == pattern.T).all()
    np.testing.assert_allclose(fd.sparse_hessian(fun)(x).toarray(), dense, rtol=1e-13)
    assert fd.hessian_sparsity(lambda x: fnp.sum(x * 3.0), x).nnz == 0  # (linear)


def test_sparse_derivatives_of_other_arguments():
    fun = lambda a, x: fnp.sum(a * x[1:] * x[:-1])  # noqa: E731
    a, x = 2.0, RNG.uniform(size=5)
    H = fd.sparse_hessian(fun, argnum=1)(a, x)
    np.testing.assert_allclose(H.toarray(), fd.hessian(fun, 1)(a, x), rtol=1e-14)
    J = fd.sparse_jacobian(lambda s, x: s * x ** 2, argnum=-1)(3.0, x)
    np.testing.assert_allclose(J.toarray(), np.diag(6.0 * x), rtol=1e-14)


def test_sparse_errors():
    with pytest.raises(ValueError, match="mode must be"):
        fd.sparse_jacobian(lambda x: x, mode="both")
    with pytest.raises(ValueError, match="argnum 3 is out of range"):
        fd.sparse_jacobian(lambda x: x, argnum=3)(np.ones(2))
    with pytest.raises(TypeError, match="float or an array"):
        fd.sparse_jacobian(lambda x: x[0])((np.ones(2),))
    with pytest.raises(TypeError, match="needs a function returning a scalar"):
        fd.sparse_hessian(lambda x: x ** 2)(np.ones(2))


def lagrangian(x, lam, sigma):
    constraints = x[1:] ** 2 - x[:-1] * 3.0
    return sigma * rosenbrock(x) + fnp.sum(lam * constraints)


def test_tape_sparse_methods_on_a_lagrangian():
    n = 8
    x, lam, sigma = RNG.uniform(0.1, 1.0, n), RNG.normal(size=n - 1), 0.7
    tape = fd.record(lagrangian, x, lam, sigma)
    dense = fd.hessian(lagrangian)(x, lam, sigma)
    H = tape.sparse_hessian(x, lam, sigma)
    np.testing.assert_allclose(H.toarray(), dense, rtol=1e-13)
    assert H.nnz == 3 * n - 2
    lower = tape.sparse_hessian(x, lam, sigma, triangle="lower")
    np.testing.assert_allclose(lower.toarray(), np.tril(dense), rtol=1e-13)
    # out= refills the same coordinates; another point, another multiplier
    x2, lam2 = x * 1.1, lam * -2.0
    refilled = tape.sparse_hessian(x2, lam2, 0.3, triangle="lower", out=lower)
    assert refilled is lower
    np.testing.assert_allclose(lower.toarray(), np.tril(fd.hessian(lagrangian)(x2, lam2, 0.3)),
                               rtol=1e-13)
    # the Hessian in the multipliers (linear: no entries) and the Jacobian in them
    assert tape.hessian_sparsity(argnum=1).nnz == 0
    assert tape.sparse_hessian(x, lam, sigma, argnum=1).nnz == 0
    J = fd.record(lambda x: x[1:] ** 2 - x[:-1] * 3.0, x)
    Jx = J.sparse_jacobian(x2)
    np.testing.assert_allclose(Jx.toarray(), fd.jacobian(lambda x: x[1:] ** 2 - x[:-1] * 3.0)(x2))
    assert J.sparse_jacobian(x, out=Jx) is Jx and J.jacobian_sparsity().nnz == Jx.nnz == 2 * n - 2
    with pytest.raises(ValueError, match="out must be the coo_array"):
        J.sparse_jacobian(x, out=H)
    with pytest.raises(ValueError, match="triangle must be"):
        tape.sparse_hessian(x, lam, sigma, triangle="upper")
    with pytest.raises(TypeError, match="argument 0 must be one float or array"):
        fd.record(lambda p: p[0] * p[1], (1.0, 2.0)).sparse_hessian((1.0, 2.0))


def test_tape_sparse_derivatives_keep_the_guards():
    fun = lambda x: fnp.sum(fnp.where(x > 0.0, x ** 3, x[::-1] * x))  # noqa: E731
    x = np.array([1.0, 2.0, -1.0, 3.0])
    tape = fd.record(fun, x)
    H = tape.sparse_hessian(x * 2.0)
    np.testing.assert_allclose(H.toarray(), fd.hessian(fun)(x * 2.0), rtol=1e-14)
    with pytest.raises(fd.RetapeRequired):
        tape.sparse_hessian(-x)
    retaping = fd.record(fun, x, retape=True)
    np.testing.assert_allclose(retaping.sparse_hessian(-x).toarray(), fd.hessian(fun)(-x),
                               rtol=1e-14)


def test_a_primitive_with_a_forward_rule_only_keeps_its_dependencies():
    double = fd.extend.primitive(lambda x: x[::-1] * 2.0)
    fd.extend.defjvp(double, lambda t, ans, x: t[::-1] * 2.0)
    x = np.arange(1.0, 4.0)
    pattern = fd.jacobian_sparsity(lambda x: double(x) * x, x).toarray()
    assert pattern.all()  # (an op of unknown structure: every element, never none)
    np.testing.assert_allclose(fd.sparse_jacobian(lambda x: double(x) * x)(x).toarray(),
                               fd.jacfwd(lambda x: double(x) * x)(x))


def test_loop_written_rosenbrock_hessian_equals_the_vectorised_one():
    # the Hessian's forward sweeps join the element reads' tangents in one
    # stack (they built one output-sized term per element before: 5.5 s at
    # n = 1,000, now milliseconds)
    def loop(x):
        s = 0.0
        for i in range(len(x) - 1):
            s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
        return s
    x = RNG.uniform(-1.0, 1.0, 60)
    H = fd.sparse_hessian(loop)(x)
    assert H.nnz == 3 * 60 - 2
    np.testing.assert_allclose(H.toarray(), fd.hessian(rosenbrock)(x), rtol=1e-12, atol=1e-12)


# -- property: a pattern never misses a nonzero -------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

UNARY = [fnp.sin, fnp.tanh, fnp.exp, lambda v: v ** 2, lambda v: -v]
BINARY = [fnp.add, fnp.multiply, lambda a, b: a / (2.0 + fnp.tanh(b)), fnp.maximum]


def _apply(step, values, constant):
    kind, a, b, c = step
    v = values[a % len(values)]
    w = values[b % len(values)]
    vector = np.ndim(v) == 1
    if kind == "elem" and vector:
        return v[c % len(v)]
    if kind == "slice" and vector and len(v) > 1:
        return v[c % (len(v) - 1):]
    if kind == "reverse" and vector:
        return v[::-1]
    if kind == "unary":
        return UNARY[c % len(UNARY)](v)
    if kind == "binary" and (np.shape(v) == np.shape(w) or not np.ndim(v) or not np.ndim(w)):
        return BINARY[c % len(BINARY)](v, w)
    if kind == "stack":
        return fnp.stack([values[k % len(values)] for k in (a, b, c)
                          if not np.ndim(values[k % len(values)])] or [fnp.sum(v)])
    if kind == "concat":
        return fnp.concatenate([fnp.reshape(v, (-1,)), fnp.reshape(w, (-1,))])
    if kind == "sum":
        return fnp.sum(v)
    if kind == "where":
        return fnp.where(v > 0.0, v ** 2, fnp.sin(w) if np.shape(w) == np.shape(v) else v)
    if kind == "matmul" and vector and len(v) <= constant.shape[1]:
        return constant[:3, :len(v)] @ v
    return fnp.cos(v)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["elem", "slice", "reverse", "unary", "binary",
                                           "stack", "concat", "sum", "where", "matmul"]),
                          st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)),
                min_size=1, max_size=10),
       st.integers(0, 2 ** 31 - 1))
def test_patterns_never_miss_a_nonzero(steps, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, 6)
    constant = rng.normal(size=(3, 64)) * (rng.uniform(size=(3, 64)) < 0.5)

    def fun(x):
        values = [x]
        for step in steps:
            values.append(_apply(step, values, constant))
        return fnp.concatenate([fnp.reshape(v, (-1,)) for v in values[-3:]])
    dense = fd.jacfwd(fun)(x)
    pattern = fd.jacobian_sparsity(fun, x).toarray()
    assert pattern.shape == dense.shape
    assert not np.any(dense[~pattern]), "a nonzero outside the pattern"
    np.testing.assert_allclose(fd.sparse_jacobian(fun)(x).toarray(), dense, rtol=1e-13,
                               atol=1e-13)
    scalar = lambda x: fnp.sum(fun(x) ** 2)  # noqa: E731
    hessian = fd.hessian(scalar)(x)
    assert not np.any(hessian[~fd.hessian_sparsity(scalar, x).toarray()])


def test_an_operation_on_operands_that_depend_on_nothing():
    """Regression (the property test's example): the dense pattern of an
    operation whose operands depend on no input divided by zero."""
    import scipy.sparse

    from fastad.sparsity import _dense_rows
    nothing = _dense_rows(scipy.sparse.csr_array((3, 6), dtype=bool), 4)
    assert nothing.shape == (4, 6) and nothing.nnz == 0
    # the property test's example (its assertions: no nonzero outside the patterns)
    steps = [("matmul", 0, 0, 0), ("elem", 0, 0, 0), ("elem", 0, 0, 0), ("elem", 0, 0, 0),
             ("concat", 0, 1, 0), ("elem", 0, 0, 0), ("elem", 0, 0, 0), ("elem", 5, 0, 0)]
    test_patterns_never_miss_a_nonzero.hypothesis.inner_test(steps, 0)


def test_sparse_plans_pickle_with_the_tape_and_are_checked_on_loading():
    import pickle
    x = RNG.uniform(-1.0, 1.0, 12)
    tape = fd.record(rosenbrock, x)
    H = tape.sparse_hessian(x)
    jac = fd.record(stencil_loop, x)
    J = jac.sparse_jacobian(x)
    loaded = pickle.loads(pickle.dumps(jac))
    plan = loaded._sparse[("jacobian", 0)]
    # the plan travels (no pattern to find again) and gives the same numbers
    np.testing.assert_array_equal(plan[0], J.row)
    np.testing.assert_array_equal(loaded.sparse_jacobian(x).toarray(), J.toarray())
    # a function that pickles brings its recorded gradient and its Hessian plan
    loaded = pickle.loads(pickle.dumps(tape))
    assert ("hessian", 0) in loaded._sparse[("gradient", 0)]._sparse
    np.testing.assert_array_equal(loaded.sparse_hessian(x).toarray(), H.toarray())
    rows, cols, colour, k, shape = jac._sparse[("jacobian", 0)]
    for bad, match in [((rows, cols + 100, colour, k, shape), "outside"),
                       ((rows, cols, np.zeros_like(colour), 1, shape), "two columns of one"),
                       ((rows, cols, colour, k, (3, 3)), "has shape"),
                       ((rows.astype(np.int32), cols, colour, k, shape), "rows that are not"),
                       ("plan", "is not a"), ]:
        state = jac.__getstate__()
        state["sparse"] = {("jacobian", 0): bad}
        with pytest.raises(ValueError, match=r"sparse\[\('jacobian', 0\)\].*" + match):
            fd.Tape.__new__(fd.Tape).__setstate__(state)
    state = jac.__getstate__()
    state["sparse"] = {("jacobian", 5): (rows, cols, colour, k, shape)}
    with pytest.raises(ValueError, match="holds the key"):
        fd.Tape.__new__(fd.Tape).__setstate__(state)
    # a pickle of the previous format (no plans) still loads
    state = jac.__getstate__()
    del state["sparse"]
    state["format"] = 2
    old = fd.Tape.__new__(fd.Tape)
    old.__setstate__(state)
    np.testing.assert_array_equal(old.sparse_jacobian(x).toarray(), J.toarray())


def test_float32_programs_keep_their_patterns():
    # (a move's traced arguments are replaced by element indices whatever
    # type their recorded values have)
    x = np.arange(1.0, 5.0, dtype=np.float32)
    fun = lambda v: fnp.stack([v[0] * v[1], v[2], fnp.sum(v)])  # noqa: E731
    np.testing.assert_array_equal(fd.jacobian_sparsity(fun, x).toarray(),
                                  fd.jacfwd(fun)(x) != 0)


def _greedy_reference(pattern):
    """The distance-2 colouring as first written, in NumPy: the C colouring
    must give the same colours."""
    import scipy.sparse as sp
    p = sp.csc_array(pattern, dtype=bool)
    conflicts = sp.csr_array((p.T.astype(np.int32) @ p.astype(np.int32)) != 0)
    degree = np.diff(conflicts.indptr)
    colour = np.full(p.shape[1], -1, np.int64)
    for j in np.argsort(-degree, kind="stable"):
        neighbours = conflicts.indices[conflicts.indptr[j]:conflicts.indptr[j + 1]]
        used = set(colour[neighbours][colour[neighbours] >= 0].tolist())
        colour[j] = min(set(range(len(used) + 1)) - used)
    return colour, int(colour.max() + 1) if colour.size else 0


@pytest.mark.parametrize("shape, density", [((1, 1), 1.0), ((7, 5), 0.3), ((40, 60), 0.05),
                                            ((60, 40), 0.2), ((5, 9), 0.0), ((0, 4), 0.0),
                                            ((300, 300), 0.01)])
def test_c_colouring_equals_the_greedy_reference(shape, density):
    import scipy.sparse as sp

    from fastad.sparsity import colour_columns
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    pattern = sp.random_array(shape, density=density, rng=rng, format="csr") != 0
    colour, k = colour_columns(pattern)
    expected, expected_k = _greedy_reference(pattern)
    np.testing.assert_array_equal(colour, expected)
    assert k == expected_k
    dense = pattern.toarray()
    for row in dense:  # (no two columns of one colour share a row)
        assert len(set(colour[row].tolist())) == row.sum()


def test_c_colouring_rejects_what_is_not_one_pattern():
    with pytest.raises(ValueError, match="not the CSR and CSC"):
        fd._tape.colour_columns_c(3, np.array([0, 1]), np.array([5]), np.array([0, 1, 1, 1]),
                                  np.array([0]))


SCALAR_PROGRAMS = {
    # (the pass shares an operand's list, unites two, reads rows of arrays)
    "a long chain on one element": lambda x: fnp.stack([_chain(x[0], 300), x[1] * 2.0]),
    "a running sum": lambda x: fnp.stack([_running_sum(x), x[2] / x[3]]),
    "comparisons and sign depend on nothing": lambda x: fnp.stack(
        [fnp.sign(x[0]) * 3.0, (x[1] > x[2]) * 1.0 + x[3], x[0] * x[0]]),
    "an array op's scalar result in scalar ops": lambda x: fnp.stack(
        [fnp.sum(x[:3] ** 2) * x[4], fnp.exp(x[5]), 4.0]),
    "reads of a computed array": lambda x: fnp.stack(
        [v * v for v in fnp.exp(x[::-1])[:3]] + [fnp.sin(x[1:])[0]]),
}


def _chain(v, n):
    for k in range(n):
        v = fnp.sin(v) + 0.5 * v if k % 2 else v * 1.0001
    return v


def _running_sum(x):
    s = 0.0
    for i in range(len(x)):
        s = s + x[i] * x[i]
    return s


@pytest.mark.parametrize("name", list(SCALAR_PROGRAMS))
def test_scalar_patterns_are_exact(name):
    fun = SCALAR_PROGRAMS[name]
    x = RNG.uniform(0.2, 1.0, 6)
    dense = fd.jacfwd(fun)(x)
    np.testing.assert_array_equal(fd.jacobian_sparsity(fun, x).toarray(), dense != 0)
    np.testing.assert_allclose(fd.sparse_jacobian(fun)(x).toarray(), dense, rtol=1e-14)


def test_a_scalar_input_has_its_own_column():
    fun = lambda t: fnp.stack([t * 2.0, fnp.exp(t), 1.0])  # noqa: E731
    tape = fd.record(fun, 0.5)
    np.testing.assert_array_equal(tape.jacobian_sparsity().toarray(), [[True], [True], [False]])


def test_the_pattern_pass_checks_its_range_and_its_tape():
    tape = fd.record(lambda x: x[0] * x[1], np.ones(3))
    inner = tape._tape
    with pytest.raises(ValueError, match="not a range"):
        fd._tape.PatternPass(inner, 2, len(inner) + 1)
    walk = fd._tape.PatternPass(inner, 0, len(inner))
    for method, args in [(walk.run, (len(inner) + 1,)), (walk.reach, (len(inner),)),
                         (walk.needed, (-1,)), (walk.set_scalar, (len(inner), [0]))]:
        with pytest.raises(IndexError, match="outside the pass's range"):
            method(*args)
    with pytest.raises(ValueError, match="not a CSR row pointer"):
        walk.set_array(0, np.array([0, 2]), np.array([1]))
    assert not walk.has(len(inner) + 5)
    indptr, indices = walk.gather([-1, len(inner) + 3])  # (outside: no dependence)
    assert indptr.tolist() == [0, 0, 0] and indices.size == 0


def test_a_loop_stack_of_numbers_is_numpy_stack():
    from fastad.ops.shape import _stack_fun
    numbers = (0.5, -1.25, 3.0)
    for axis in (0, -1):
        got = _stack_fun(axis, *numbers)
        assert got.dtype == np.float64 and got.tolist() == np.stack(numbers, axis=axis).tolist()
    with pytest.raises(np.exceptions.AxisError):
        _stack_fun(1, *numbers)
    with pytest.raises(ValueError, match="need at least one array"):
        _stack_fun(0)


def test_out_from_before_a_retape_is_refused_when_the_coordinates_moved():
    """Regression: `out` was checked for its shape and number of entries
    only, so a retape to a pattern of as many entries at other coordinates
    refilled it with values in the wrong places."""
    def branchy(x):
        if x[0] > 0.0:
            return fnp.stack([x[0] * x[1], x[2]])
        return fnp.stack([x[2] * x[1], x[0]])
    tape = fd.record(branchy, np.array([1.0, 2.0, 3.0]), retape=True)
    J = tape.sparse_jacobian(np.array([1.0, 2.0, 3.0]))
    assert tape.sparse_jacobian(np.array([2.0, 2.0, 3.0]), out=J) is J
    np.testing.assert_array_equal(J.toarray(), [[2.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="same coordinates; a retape"):
        tape.sparse_jacobian(np.array([-1.0, 2.0, 3.0]), out=J)
    fresh = tape.sparse_jacobian(np.array([-1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(fresh.toarray(), [[0.0, 3.0, 2.0], [1.0, 0.0, 0.0]])
    # a lower triangle's out is its own
    hess = fd.record(lambda x: fnp.sum(x[1:] * x[:-1] ** 2), np.ones(4))
    both, lower = hess.sparse_hessian(np.ones(4)), hess.sparse_hessian(np.ones(4),
                                                                       triangle="lower")
    assert hess.sparse_hessian(2.0 * np.ones(4), triangle="lower", out=lower) is lower
    with pytest.raises(ValueError, match="out must be the coo_array"):
        hess.sparse_hessian(np.ones(4), out=lower)
    np.testing.assert_array_equal(lower.toarray(), np.tril(hess.sparse_hessian(
        2.0 * np.ones(4), out=both).toarray()))


def test_dense_tape_derivatives_of_a_lagrangian_take_argnum():
    """Regression (#22): tape.hessian(x, lam) of a two-argument Lagrangian
    raised TypeError; hessian, hvp and jacobian take argnum and hold the
    other arguments as parameters, equal to the traced operators."""
    def lagrangian(x, lam, sigma):
        return sigma * fnp.sum(x ** 3) + fnp.dot(lam, fnp.sin(x[1:] * x[:-1]))
    x, lam, sigma = np.array([0.3, 0.7, 1.1]), np.array([0.5, -2.0]), 1.5
    tape = fd.record(lagrangian, x, lam, sigma)
    for point in ((x, lam, sigma), (1.1 * x, -lam, 0.5)):
        H = fd.hessian(lagrangian)(*point)
        np.testing.assert_allclose(tape.hessian(*point), H, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(tape.hessian(*point), tape.sparse_hessian(*point).toarray(),
                                   rtol=1e-14, atol=1e-14)
        v = np.array([1.0, -1.0, 2.0])
        np.testing.assert_allclose(tape.hvp(point, v, argnum=0), H @ v, rtol=1e-14)
        np.testing.assert_allclose(tape.hessian(*point, argnum=1),
                                   fd.hessian(lagrangian, 1)(*point), atol=1e-14)
        np.testing.assert_allclose(tape.jacobian(*point, argnum=1),
                                   fd.grad(lagrangian, 1)(*point), rtol=1e-14)
    with pytest.raises(ValueError, match="argnum 3 is out of range for a tape of 3"):
        tape.hessian(x, lam, sigma, argnum=3)
    with pytest.raises(TypeError, match="argnum must be an int"):
        tape.hvp((x, lam, sigma), x, argnum=True)
    # one argument: argnum 0 (or -1) is the tape's gradient as before
    single = fd.record(lambda x: fnp.sum(x ** 3), x)
    np.testing.assert_array_equal(single.hessian(x, argnum=-1), single.hessian(x))
    np.testing.assert_array_equal(single.hvp(x, x, argnum=0), single.hvp(x, x))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_results_in_csr_and_csc(fmt):
    """format="csr"/"csc": the same matrix with explicit zeros kept, index
    arrays the same at every call, `out` refilled in place (and refused
    from another format or pattern)."""
    import scipy.sparse as sp
    kind = sp.csr_array if fmt == "csr" else sp.csc_array
    x = RNG.uniform(0.1, 1.0, 12)
    jac = fd.record(stencil_loop, x)
    J = jac.sparse_jacobian(x, format=fmt)
    assert isinstance(J, kind) and J.nnz == jac.sparse_jacobian(x).nnz
    np.testing.assert_array_equal(J.toarray(), jac.sparse_jacobian(x).toarray())
    J2 = jac.sparse_jacobian(0.5 * x, format=fmt)
    np.testing.assert_array_equal(J2.indices, J.indices)
    np.testing.assert_array_equal(J2.indptr, J.indptr)
    assert jac.sparse_jacobian(0.5 * x, format=fmt, out=J) is J
    np.testing.assert_array_equal(J.toarray(), J2.toarray())
    with pytest.raises(ValueError, match="out must be the %s_array" % ("coo")):
        jac.sparse_jacobian(x, out=J)
    # a Hessian with an explicit zero (x[0] * x[1] at x[0] = 0) and its lower triangle
    hess = fd.record(lambda x: x[0] ** 2 * x[1] + fnp.sum(x[1:] * x[:-1]), np.zeros(4))
    for triangle in ("both", "lower"):
        H = hess.sparse_hessian(np.zeros(4), triangle=triangle, format=fmt)
        coo = hess.sparse_hessian(np.zeros(4), triangle=triangle)
        assert isinstance(H, kind) and H.nnz == coo.nnz and np.count_nonzero(H.data) < H.nnz
        np.testing.assert_array_equal(H.toarray(), coo.toarray())
    np.testing.assert_array_equal(fd.sparse_hessian(rosenbrock, format=fmt)(x).toarray(),
                                  fd.sparse_hessian(rosenbrock)(x).toarray())
    np.testing.assert_array_equal(fd.sparse_jacobian(stencil_loop, format=fmt)(x).toarray(),
                                  jac.sparse_jacobian(x).toarray())
    with pytest.raises(ValueError, match="format must be 'coo', 'csr' or 'csc', got 'bsr'"):
        fd.sparse_jacobian(stencil_loop, format="bsr")
    with pytest.raises(ValueError, match="format must be 'coo', 'csr' or 'csc'"):
        jac.sparse_jacobian(x, format="dense")


def test_kept_tangent_rows_of_an_unseeded_leaf_are_cleared():
    """Regression: past a megabyte a tape's tangent rows are reused and
    only the rows a sweep does not write are cleared; a leaf the sparse
    sweep does not seed (the parameter s) must not keep the tangent a
    jvp gave it before."""
    n = 40_000
    tape = fd.record(lambda x, s: fnp.stack([x[i] * s + s * s for i in range(n)]),
                     RNG.uniform(size=n), 0.5)
    x, s = RNG.uniform(size=n), 1.5
    _, jvp = tape.jvp((x, s), (np.ones(n), 1.0))
    np.testing.assert_allclose(jvp, s + x + 2 * s)
    jacobian = tape.sparse_jacobian(x, s, argnum=0)
    assert jacobian.nnz == n
    np.testing.assert_array_equal(jacobian.data, np.full(n, s))
