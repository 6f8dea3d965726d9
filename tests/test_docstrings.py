"""Every public name has a short example in its docstring, and the examples run.

The public names are those of `fastad`, `fastad.extend`, `fastad.optimize`,
`fastad.optim`, `fastad.nn`, `fastad.distributed`, `fastad.misc`,
`fastad.misc.optimizers`, `fastad.scipy.integrate` and `fastad.scipy.linalg` (each module's
``__all__``, or its public attributes where it has none), and the public
methods and properties of the recorded `Tape`.  Each example runs as a doctest
with ``fd`` and ``fastad`` (fastad), ``np`` (fastad.numpy) and ``numpy`` already imported.
"""
import doctest
import importlib
import inspect

import numpy
import pytest

import fastad

MODULES = ["fastad", "fastad.extend", "fastad.optimize", "fastad.optim", "fastad.nn",
           "fastad.distributed", "fastad.misc", "fastad.misc.optimizers",
           "fastad.scipy.integrate", "fastad.scipy.linalg", "fastad.ipopt"]
NEEDS = {"fastad.distributed": "distributed"}
#: the names whose examples run an optional package (skipped without it)
EXAMPLE_NEEDS = {"fastad.optimize.minimize_ipopt": "cyipopt", "fastad.ipopt.Problem": "cyipopt"}


def _public_names():
    found = []
    for module_name in MODULES:
        if module_name in NEEDS:
            pytest.importorskip(NEEDS[module_name])
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        if names is None:
            names = [name for name in vars(module) if not name.startswith("_")]
        for name in names:
            value = getattr(module, name)
            if inspect.ismodule(value) or name == "__version__":
                continue
            found.append(("%s.%s" % (module_name, name), value))
    for name, value in vars(fastad.Tape).items():
        if not name.startswith("_"):
            found.append(("fastad.Tape.%s" % name, getattr(fastad.Tape, name)))
    return found


PUBLIC = _public_names()
IDS = [name for name, _ in PUBLIC]


def test_the_public_names_are_found():
    assert "fastad.grad" in IDS and "fastad.Tape.gradient" in IDS and "fastad.nn.mlp" in IDS
    assert len(IDS) > 60


def _docstring(value):
    return inspect.getdoc(value) or ""


@pytest.mark.parametrize("name, value", PUBLIC, ids=IDS)
def test_public_name_has_an_example(name, value):
    assert ">>>" in _docstring(value), "%s has no example in its docstring" % name


@pytest.mark.parametrize("name, value", PUBLIC, ids=IDS)
def test_docstring_example_runs(name, value):
    text = _docstring(value)
    if ">>>" not in text:
        pytest.skip("no example (test_public_name_has_an_example fails)")
    if name in EXAMPLE_NEEDS:
        pytest.importorskip(EXAMPLE_NEEDS[name])
    globs = {"fd": fastad, "fastad": fastad, "np": fastad.numpy, "numpy": numpy}
    test = doctest.DocTestParser().get_doctest(text, globs, name, None, 0)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = []
    with numpy.printoptions(precision=8, suppress=True):
        runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
