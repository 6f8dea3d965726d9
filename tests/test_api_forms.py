"""Forms of the operators that JAX and autograd users write: has_aux,
pytree outputs of Jacobians and Hessians over several arguments (JAX),
size-1 outputs of grad (autograd)."""
import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp


def test_has_aux():
    g, aux = fd.grad(lambda x: (x ** 2, {"twice": x * 2.0, "name": "f"}), has_aux=True)(3.0)
    assert g == 6.0 and aux == {"twice": 6.0, "name": "f"} and type(aux["twice"]) is float
    (value, aux), g = fd.value_and_grad(lambda x: (fnp.sum(x ** 2), x * 2.0), has_aux=True)(
        np.ones(2))
    assert value == 2.0
    np.testing.assert_array_equal(aux, [2.0, 2.0])
    np.testing.assert_array_equal(g, [2.0, 2.0])
    out, vjp_fun, aux = fd.vjp(lambda x: (fnp.sin(x), fnp.cos(x)), np.zeros(2), has_aux=True)
    np.testing.assert_array_equal(aux, [1.0, 1.0])
    np.testing.assert_array_equal(vjp_fun(np.ones(2))[0], [1.0, 1.0])
    # nested: the auxiliary value of an inner grad is traced, and differentiable
    outer = fd.grad(lambda x: fd.grad(lambda y: (y ** 3, y ** 2), has_aux=True)(x)[1])(2.0)
    assert outer == 4.0
    with pytest.raises(TypeError, match=r"has_aux=True\) requires the function to return a pair"):
        fd.grad(lambda x: x, has_aux=True)(1.0)


def test_jacobians_of_pytree_outputs():
    x = np.array([0.3, -0.5])
    for jac in (fd.jacfwd, fd.jacrev, fd.jacobian):
        J = jac(lambda x: {"a": x * 2.0, "b": (fnp.sin(x), fnp.sum(x ** 2))})(x)
        np.testing.assert_allclose(J["a"], 2.0 * np.eye(2))
        np.testing.assert_allclose(J["b"][0], np.diag(np.cos(x)))
        np.testing.assert_allclose(J["b"][1], 2.0 * x)
        # a pytree input inside each output leaf
        J = jac(lambda p: (p["u"] * p["v"], 3.0))({"u": x, "v": np.ones(2)})
        np.testing.assert_allclose(J[0]["u"], np.eye(2))
        np.testing.assert_allclose(J[0]["v"], np.diag(x))
        np.testing.assert_array_equal(J[1]["u"], [0.0, 0.0])


def test_hessian_over_several_arguments_is_nested_as_in_jax():
    def f(x, y):
        return fnp.sum(x * y ** 2) + fnp.sum(x ** 3)
    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.0, 2.0])[:2]
    H = fd.hessian(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(H[0][0], np.diag(6.0 * x))
    np.testing.assert_allclose(H[0][1], np.diag(2.0 * y))   # d/dy of df/dx
    np.testing.assert_allclose(H[1][0], np.diag(2.0 * y))   # d/dx of df/dy
    np.testing.assert_allclose(H[1][1], np.diag(2.0 * x))
    # against central differences of the gradient
    gy = fd.grad(f, 1)
    np.testing.assert_allclose(H[1][0], fd.jacobian(lambda x: gy(x, y))(x))
    J = np.stack([fd.numerical_grad(lambda x: gy(x, y)[i], x) for i in range(2)])
    np.testing.assert_allclose(H[1][0], J, rtol=1e-6)


def test_grad_of_a_size_one_array_output():
    """autograd takes the gradient of any single-element output."""
    np.testing.assert_array_equal(fd.grad(lambda x: x * 2.0)(np.ones(1)), [2.0])
    value, g = fd.value_and_grad(lambda x: fnp.dot(x, x.T))(np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(value, [[25.0]])
    np.testing.assert_array_equal(g, [[6.0, 8.0]])
    with pytest.raises(TypeError, match="scalar output"):
        fd.grad(lambda x: x * 2.0)(np.ones(2))


def test_array_methods_record_as_the_numpy_functions():
    x = np.arange(1.0, 4.0)

    def f(x):
        return (x.sum() + x.mean() + x.max() + x.prod() + x.std() + x.var()
                + x.cumsum()[-1] + x.cumprod()[-1] + x.take([0, 0]).sum() + (x * x.round()).sum()
                + x.real.sum() + x.conj().sum() + x[x.argmax()] + x[x.argsort()[0]])

    def f_numpy(x):
        return (fnp.sum(x) + fnp.mean(x) + fnp.max(x) + fnp.prod(x) + fnp.std(x) + fnp.var(x)
                + fnp.cumsum(x)[-1] + fnp.cumprod(x)[-1]
                + fnp.sum(fnp.take(x, [0, 0])) + fnp.sum(x * np.round(x)) + 2 * fnp.sum(x)
                + x[2] + x[0])
    np.testing.assert_allclose(fd.grad(f)(x), fd.grad(f_numpy)(x), rtol=1e-14)
    fd.check_grads(f, x)
    m = np.arange(4.0).reshape(2, 2)
    g = fd.grad(lambda m: m.trace() + m.diagonal().sum() + m.swapaxes(0, 1)[0, 1]
                + m.repeat(2).sum())(m)
    np.testing.assert_array_equal(g, [[4.0, 2.0], [3.0, 4.0]])


def test_truth_values_of_arrays_are_guarded_in_recorded_tapes():
    tape = fd.record(lambda x: x.sum() if x.all() else -x.sum(), np.ones(2))
    assert tape(np.full(2, 2.0)) == 4.0
    with pytest.raises(fd.RetapeRequired):
        tape(np.array([0.0, 1.0]))
    assert fd.grad(lambda x: x[x.nonzero()].sum())(np.array([0.0, 2.0])).tolist() == [0.0, 1.0]
