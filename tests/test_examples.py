"""The examples run and reach what they promise."""
import importlib.util
import os

import numpy
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlp_digits_reaches_97_percent(tmp_path):
    pytest.importorskip("sklearn", reason="the digits example needs scikit-learn ('.[examples]')")
    example = load("mlp_digits")
    png = tmp_path / "curves.png"
    history = example.main(["--epochs", "30", "--plot", str(png)])
    assert history["test_accuracy"][-1] >= 0.97
    assert history["loss"][-1] < history["loss"][0]
    if importlib.util.find_spec("matplotlib"):
        assert png.stat().st_size > 0


def test_rosenbrock_reaches_the_minimum_as_scipy_does():
    pytest.importorskip("scipy")
    results = load("rosenbrock").main(["--n", "20"])
    for method, (ours, theirs) in results.items():
        assert ours.success and ours.recorded
        numpy.testing.assert_allclose(ours.x, theirs.x, atol=1e-4)
        # last bits steer the iteration count of a long run: as close as scipy to itself
        assert abs(ours.nit - theirs.nit) <= max(3, 0.1 * theirs.nit)


def test_logistic_regression_matches_scikit_learn():
    pytest.importorskip("sklearn", reason="the example needs scikit-learn ('.[examples]')")
    result, reference = load("logistic_regression").main([])
    assert result.success and result.recorded
    numpy.testing.assert_allclose(result.x["w"], reference.coef_[0], atol=1e-4)


def test_least_squares_loop_recovers_the_parameters():
    pytest.importorskip("scipy")
    fit, truth = load("least_squares_loop").main([])
    assert fit.success and fit.recorded
    numpy.testing.assert_allclose(fit.x, truth, rtol=0.02)
