"""The gradient-descent steppers."""
import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp
from fastad import optim


def quadratic(p):
    return fnp.sum((p["w"] - 3.0) ** 2) + (p["b"] + 1.0) ** 2


@pytest.mark.parametrize("make", [lambda: optim.sgd(0.1), lambda: optim.momentum(0.05),
                                  lambda: optim.adam(0.1), lambda: optim.sgd(optim.robbins_monro(1.0, 2.0))],
                         ids=["sgd", "momentum", "adam", "sgd-robbins-monro"])
def test_steppers_minimise_a_quadratic(make):
    opt = make()
    params = {"w": numpy.zeros(3, numpy.float32), "b": 0.0}
    for _ in range(500):
        params = opt.step(params, fd.grad(quadratic)(params))
    assert params["w"].dtype == numpy.float32 and isinstance(params["b"], float)
    numpy.testing.assert_allclose(params["w"], 3.0, atol=1e-3)
    assert abs(params["b"] + 1.0) < 1e-3


def test_schedules():
    assert optim.constant(0.5)(100) == 0.5
    rm = optim.robbins_monro(2.0, 4.0)
    assert rm(0) == 0.5 and rm(4) == 0.25
    with pytest.raises(ValueError, match="a > 0"):
        optim.robbins_monro(-1.0)


def test_structure_mismatch_is_an_error():
    opt = optim.sgd(0.1)
    with pytest.raises(ValueError, match="structure"):
        opt.step({"w": numpy.ones(2)}, [numpy.ones(2)])
