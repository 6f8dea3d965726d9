"""fastad.vmap and Tape.map: batched results equal the per-point ones, bit
for bit, for every method and operator; JAX's in_axes/out_axes rules; guards
flipping at some points; clear errors."""
import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp


def assert_same_bits(a, b):
    """Equal pytrees of arrays, to the bit."""
    la, ta = fd.extend.flatten(a)
    lb, tb = fd.extend.flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, y.shape, x.dtype, y.dtype)
        assert x.tobytes() == y.tobytes(), (x, y)


def stacked(results, axis=0):
    first, treedef = fd.extend.flatten(results[0])
    columns = zip(*[fd.extend.flatten(r)[0] for r in results])
    return fd.extend.unflatten(treedef, [np.stack([np.asarray(c) for c in col], axis)
                                         for col in columns])


def model(x, w):
    return fnp.tanh(x @ w) * fnp.exp(-0.5 * fnp.sum(x ** 2))


RNG = np.random.default_rng(7)
X = RNG.normal(size=(6, 3))
W = RNG.normal(size=(3, 2))


# -- vmap: the per-point results, stacked -----------------------------------------

@pytest.mark.parametrize("operator", ["value", "grad", "jacfwd", "jacrev", "hessian"])
def test_vmap_of_operators_equals_the_loop(operator):
    scalar = lambda x: fnp.sum(model(x, W) ** 2)  # noqa: E731
    fun = {"value": lambda x: model(x, W), "grad": fd.grad(scalar),
           "jacfwd": fd.jacfwd(lambda x: model(x, W)), "jacrev": fd.jacrev(lambda x: model(x, W)),
           "hessian": fd.hessian(scalar)}[operator]
    assert_same_bits(fd.vmap(fun)(X), stacked([fun(x) for x in X]))


def test_vmap_in_axes_tuple_none_negative_and_pytrees():
    fun = lambda p, x, scale: scale * fnp.sum(p["w"] * x) + p["b"]  # noqa: E731
    p = {"w": RNG.normal(size=(3, 5)), "b": RNG.normal(size=5)}
    xs = RNG.normal(size=(3, 5))
    got = fd.vmap(fun, in_axes=({"w": -1, "b": 0}, 1, None))(p, xs, 2.0)
    assert_same_bits(got, np.stack([fun({"w": p["w"][:, i], "b": p["b"][i]}, xs[:, i], 2.0)
                        for i in range(5)]))
    # a list is taken as the tuple of positional entries, as JAX does
    assert_same_bits(fd.vmap(lambda a, b: a * b, in_axes=[0, None])(X, X[0]), X * X[0])


def test_vmap_maps_keyword_arguments_along_their_leading_axis():
    got = fd.vmap(lambda x, y=None: x * y, in_axes=(None,))(2.0, y=np.arange(4.0))
    assert_same_bits(got, 2.0 * np.arange(4.0))


def test_vmap_out_axes():
    fun = lambda x: (x * 2.0, fnp.sum(x))  # noqa: E731
    a, s = fd.vmap(fun, out_axes=(-1, 0))(X)
    assert_same_bits(a, (X * 2.0).T)
    assert_same_bits(s, np.array([np.sum(x) for x in X]))
    assert_same_bits(fd.vmap(lambda x: x, out_axes=1)(X), X.T)
    # None: an output that does not depend on the point, given once
    w, y = fd.vmap(lambda x: (W, x + 1.0), out_axes=(None, 0))(X)
    assert_same_bits(w, W)
    with pytest.raises(ValueError, match="out_axes None but differs between points 0 and 1"):
        fd.vmap(lambda x: x, out_axes=None)(X)


def test_vmap_axis_size_and_empty_batches():
    assert_same_bits(fd.vmap(lambda: 3.0, in_axes=(), axis_size=4)(), np.full(4, 3.0))
    empty = fd.vmap(lambda x: (fnp.sum(x), x[:2] * 2.0))(np.zeros((0, 3)))
    assert_same_bits(empty, (np.zeros(0), np.zeros((0, 2))))


def test_vmap_composes_inside_operators():
    # the Jacobian of the batched function, and a gradient through a vmap over
    # a closure of traced parameters (the loss of a model over a batch)
    f = lambda x: fnp.sin(x) * x[::-1]  # noqa: E731
    jac = fd.jacobian(fd.vmap(f))(X)
    loop = np.zeros(X.shape + X.shape)
    for i in range(len(X)):
        loop[i, :, i, :] = fd.jacobian(f)(X[i])
    np.testing.assert_array_equal(jac, loop)  # (off the diagonal blocks: -0.0 where 0 * -y)
    loss = lambda w: fnp.sum(fd.vmap(lambda x: model(x, w))(X) ** 2)  # noqa: E731
    expected = fd.grad(lambda w: sum(fnp.sum(model(x, w) ** 2) for x in X))(W)
    np.testing.assert_allclose(fd.grad(loss)(W), expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(fd.grad(loss)(W), fd.numerical_grad(loss, W), rtol=1e-6)
    assert_same_bits(fd.vmap(fd.vmap(lambda a, b: a * b), in_axes=(0, None))(X, X[0]), X * X[0])


def test_vmap_points_taking_another_branch_are_evaluated_there():
    # recorded at the first point, the `if` flips at others: those are traced there
    def f(x):
        if fnp.sum(x) > 0:
            return fnp.sum(fnp.sin(x))
        return fnp.sum(fnp.abs(x) ** 3)
    xs = np.array([[1.0, 2.0], [-3.0, 1.0], [0.5, 0.25], [-1.0, -1.0]])
    assert_same_bits(fd.vmap(f)(xs), stacked([f(x) for x in xs]))
    g = fd.grad(f)
    assert_same_bits(fd.vmap(g)(xs), stacked([g(x) for x in xs]))


def test_vmap_of_integer_and_object_arguments_calls_the_function_per_point():
    idx = np.array([0, 2, 1])
    assert_same_bits(fd.vmap(lambda i, x: x[i] * 2.0, in_axes=(0, None))(idx, X[0]), X[0][idx] * 2.0)
    assert_same_bits(fd.vmap(lambda x, tag: x * len(tag), in_axes=(0, None))(X, "ab"), 2 * X)


@pytest.mark.parametrize("call, match", [
    (lambda: fd.vmap(lambda a, b: a + b)(np.ones(3), np.ones(4)), "inconsistent sizes"),
    (lambda: fd.vmap(lambda a: a)(1.0), "at least 1 dimensions"),
    (lambda: fd.vmap(lambda a: a, in_axes=2)(np.ones((2, 2))), "at least 3 dimensions"),
    (lambda: fd.vmap(lambda a, b: a, in_axes=(0,))(X, X), "in_axes has 1 entries"),
    (lambda: fd.vmap(lambda a: a, in_axes=None)(X), "at least one mapped argument"),
    (lambda: fd.vmap(lambda a: a, in_axes=({"w": 0},))(X), "not a prefix"),
    (lambda: fd.vmap(lambda a: a, axis_size=3)(X), "axis_size=3"),
    (lambda: fd.vmap(lambda a: a, out_axes=3)(X), "out_axes 3 is out of range"),
    (lambda: fd.vmap(lambda a: a[: int(a[0] > 0) + 1])(np.array([[1.0, 2.0], [-1.0, 2.0]])),
     "different shapes"),
])
def test_vmap_errors_say_what_was_wrong(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_vmap_argument_types():
    with pytest.raises(TypeError, match="fun must be callable"):
        fd.vmap(3)
    with pytest.raises(TypeError, match="in_axes must be built of ints and None"):
        fd.vmap(lambda x: x, in_axes="0")
    with pytest.raises(TypeError, match="axis_size"):
        fd.vmap(lambda x: x, axis_size=-1)


# -- Tape.map: every method, bit for bit ------------------------------------------

def scalar_fun(x, y):
    return fnp.sum(fnp.sin(x) * y) + fnp.sum(x ** 2) * y


@pytest.mark.parametrize("method", ["__call__", "gradient", "value_and_grad", "jacobian",
                                    "hessian", "hvp", "jvp", "vjp"])
def test_tape_map_equals_the_per_point_calls(method):
    one = method in ("jacobian", "hessian", "hvp", "jvp", "vjp")
    fun = (lambda x: fnp.sin(x) * fnp.sum(x ** 2)) if method in ("jacobian", "jvp", "vjp") \
        else (lambda x: scalar_fun(x, 1.5)) if one else scalar_fun
    xs = RNG.normal(size=(5, 3))
    ys = RNG.normal(size=5)
    args = (xs,) if one else (xs, ys)
    tape = fd.record(fun, *[a[0] for a in args])
    if method in ("hvp", "jvp", "vjp"):
        vs = RNG.normal(size=(5, 3))
        got = tape.map(method, xs, vs)
        loop = [getattr(tape, method)(x, v) for x, v in zip(xs, vs)]
    else:
        got = tape.map(method, *args)
        loop = [getattr(tape, method)(*row) for row in zip(*args)]
    assert_same_bits(got, stacked(loop))
    if method == "gradient":
        assert_same_bits(tape.map(tape.gradient, *args), got)  # (the bound method names it too)


def test_tape_map_over_pytree_arguments():
    fun = lambda p, x: fnp.sum(fnp.tanh(x @ p["w"] + p["b"]))  # noqa: E731
    p = {"w": RNG.normal(size=(4, 3, 2)), "b": RNG.normal(size=(4, 2))}
    xs = RNG.normal(size=(4, 3))
    tape = fd.record(fun, {"w": p["w"][0], "b": p["b"][0]}, xs[0])
    got = tape.map("gradient", p, xs)
    loop = [tape.gradient({"w": p["w"][i], "b": p["b"][i]}, xs[i]) for i in range(4)]
    assert_same_bits(got, stacked(loop))


def test_tape_map_flipped_guards():
    fun = lambda x: fnp.sum(fnp.where(x > 0.0, x ** 2, -x)) * 3.0  # noqa: E731
    tape = fd.record(fun, np.array([1.0, -1.0]))
    xs = np.array([[2.0, -3.0], [4.0, 5.0], [1.0, -1.0], [-2.0, -2.0]])
    with pytest.raises(fd.RetapeRequired, match="at point 1"):
        tape.map("gradient", xs)
    assert_same_bits(tape.map("gradient", xs, retape=True), np.stack([fd.grad(fun)(x) for x in xs]))
    # the tape is still the one recorded: the first point replays, the second flips
    assert_same_bits(tape.gradient(xs[0]), fd.grad(fun)(xs[0]))
    with pytest.raises(fd.RetapeRequired):
        tape.gradient(xs[1])
    retaping = fd.record(fun, np.array([1.0, -1.0]), retape=True)
    assert_same_bits(retaping.map("gradient", xs), np.stack([fd.grad(fun)(x) for x in xs]))


def test_tape_map_errors():
    tape = fd.record(scalar_fun, np.ones(3), 1.0)
    with pytest.raises(ValueError, match="unknown method 'grad'"):
        tape.map("grad", np.ones((2, 3)), np.ones(2))
    with pytest.raises(TypeError, match="takes 2 stacked arguments"):
        tape.map("gradient", np.ones((2, 3)))
    with pytest.raises(ValueError, match="leading batch axis"):
        tape.map("gradient", np.ones((2, 3)), 1.0)
    with pytest.raises(ValueError, match="leading .batch. axes differ"):
        tape.map("gradient", np.ones((2, 3)), np.ones(3))
    assert_same_bits(tape.map("value_and_grad", np.zeros((0, 3)), np.zeros(0)),
         (np.zeros(0), (np.zeros((0, 3)), np.zeros(0))))
