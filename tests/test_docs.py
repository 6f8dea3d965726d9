"""The documentation builds without a warning, and the examples on its pages
run and print what the pages say.

Both need the docs/ folder beside tests/, so they are skipped where the suite
runs from an installed wheel outside the source tree; the build also needs
Sphinx (pip install ".[docs]").
"""
import doctest
import glob
import importlib.util
import os
import subprocess
import sys

import numpy
import pytest

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
PAGES = sorted(os.path.relpath(path, DOCS)
               for path in glob.glob(os.path.join(DOCS, "**", "*.rst"), recursive=True))
# what a page's examples import beyond fastad and NumPy (fastad.distributed
# pickles the function even without a client: lambdas need cloudpickle)
NEEDS = {"optimisation.rst": ["scipy"], "scale-out.rst": ["scipy", "cloudpickle"]}

needs_docs = pytest.mark.skipif(not os.path.isdir(DOCS),
                                reason="no docs/ beside tests/ (an installed wheel)")


@needs_docs
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    warnings = tmp_path / "warnings.txt"
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), "-w", str(warnings), DOCS, str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600)
    if build.returncode != 0:
        reported = warnings.read_text() if warnings.exists() else ""
        pytest.fail("python -m sphinx -W docs failed (exit %d); Sphinx's warnings:\n%s\n%s"
                    % (build.returncode, reported or build.stderr, build.stdout[-2000:]),
                    pytrace=False)
    assert (tmp_path / "html" / "index.html").exists()


@needs_docs
@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page):
    for module in NEEDS.get(page, []):
        if importlib.util.find_spec(module) is None:
            pytest.skip("the examples of %s need %s" % (page, module))
    path = os.path.join(DOCS, page)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if ">>>" not in text:
        pytest.skip("no examples")
    test = doctest.DocTestParser().get_doctest(text, {}, page, path, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = []
    with numpy.printoptions(precision=8, suppress=False, linewidth=75):
        runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
