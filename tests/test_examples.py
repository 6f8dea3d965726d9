"""The examples run and reach what they promise."""
import importlib.util
import os

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
