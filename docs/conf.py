"""Sphinx configuration of fastad's documentation.

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build is offline: no intersphinx, no theme package (alabaster ships
with Sphinx).  fastad is imported as installed, not from src/, because the
compiled extension is only there after a build.  Two directives generate
text from the code at build time, so that it cannot go stale:
`fastad-face-names` lists the names a NumPy/SciPy face defines itself, and
`fastad-benchmark-report` turns benchmarks/results/latest.md into tables.
A last check fails the build when a public name of the API modules has no
entry in the API reference.
"""
import importlib
import inspect
import os
import re

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

import fastad

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

project = "fastad"
author = "the fastad developers"
copyright = "the fastad developers"
version = release = fastad.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {"description": "Compiled, tape-based automatic differentiation",
                      "fixed_sidebar": True}

# Docstrings name things in `single backquotes`: as Python cross-references
# they link where the name is documented and read as code where it is not
# (nitpicky is off, so an unresolved name is not a warning).
default_role = "py:obj"
add_module_names = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
napoleon_use_rtype = False

# Docstrings write the absolute value of x as |x|, which reStructuredText
# reads as a substitution: define it as itself.
rst_prolog = r"""
.. |x| replace:: \|x\|
"""

# The modules whose public names the API reference must document: the list of
# tests/test_docstrings.py (each module's __all__, or its public attributes).
API_MODULES = ["fastad", "fastad.extend", "fastad.optimize", "fastad.optim", "fastad.nn",
               "fastad.distributed", "fastad.ipopt"]

logger = logging.getLogger(__name__)


def public_names():
    """The full names of fastad's public functions, classes and Tape members."""
    found = []
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        if names is None:
            names = [name for name in vars(module) if not name.startswith("_")]
        for name in names:
            value = getattr(module, name)
            if not inspect.ismodule(value) and name != "__version__":
                found.append("%s.%s" % (module_name, name))
    found += ["fastad.Tape.%s" % name for name in vars(fastad.Tape) if not name.startswith("_")]
    return found


def check_api_reference(app, env):
    documented = set(env.get_domain("py").objects)
    for name in public_names():
        if name not in documented:
            logger.warning("the public name %s has no entry in the API reference (docs/api/)",
                           name)


# -- the NumPy and SciPy faces --------------------------------------------------------

def _origin(value):
    """The module a face's attribute comes from (a Primitive has no
    __module__ of its own: its type's is fastad._tape)."""
    module = getattr(value, "__module__", None)
    return module if isinstance(module, str) else type(value).__module__


def own_names(module):
    """The names `module` binds to fastad's own functions (those that accept
    traced values); its other names are NumPy's or SciPy's, re-exported."""
    return sorted(name for name, value in vars(module).items()
                  if not name.startswith("_") and not inspect.ismodule(value)
                  and not inspect.isclass(value) and _origin(value).startswith("fastad"))


def own_classes(module):
    """The classes defined in `module` (the distributions of fastad.scipy.stats)
    with their public methods."""
    return [(name, [m for m in vars(value) if not m.startswith("_")])
            for name, value in sorted(vars(module).items())
            if inspect.isclass(value) and value.__module__ == module.__name__]


class FaceNames(SphinxDirective):
    """``.. fastad-face-names:: fastad.numpy``: the names the module defines
    itself, as one paragraph (``:classes:`` lists its classes and methods)."""
    required_arguments = 1
    option_spec = {"classes": lambda arg: True}

    def run(self):
        module = importlib.import_module(self.arguments[0])
        if "classes" in self.options:
            lines = ["- ``%s``: %s" % (name, ", ".join("``%s``" % m for m in methods))
                     for name, methods in own_classes(module)]
        else:
            names = own_names(module)
            lines = ["%d names: %s." % (len(names), ", ".join("``%s``" % n for n in names))]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, self.get_source_info()[0]),
                                self.content_offset, container)
        return container.children


# -- the benchmark report ---------------------------------------------------------------

REPORT = os.path.join(ROOT, "benchmarks", "results", "latest.md")


def report_to_rst(text):
    """The markdown report of benchmarks/run.py as reStructuredText: its
    pipe tables become list-tables, `code` becomes ``code``; the rest of its
    markdown (paragraphs, **bold**) reads the same in both."""
    out, table = [], []

    def flush():
        rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
                for line in table if not re.fullmatch(r"[|\-: ]+", line.strip())]
        if rows:
            out.extend([".. list-table::", "   :header-rows: 1", ""])
            for row in rows:
                cells = [cell or r"\ " for cell in row]
                out.append("   * - " + cells[0])
                out.extend("     - " + cell for cell in cells[1:])
            out.append("")
        table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        # (one paragraph a line: the report's header lines are separate facts)
        out.extend([re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", line), ""])
    flush()
    return out


class BenchmarkReport(SphinxDirective):
    """``.. fastad-benchmark-report::``: benchmarks/results/latest.md as tables."""

    def run(self):
        self.env.note_dependency(REPORT)
        with open(REPORT, encoding="utf-8") as f:
            lines = report_to_rst(f.read())
        container = nodes.container()
        self.state.nested_parse(StringList(lines, REPORT), self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("fastad-face-names", FaceNames)
    app.add_directive("fastad-benchmark-report", BenchmarkReport)
    app.connect("env-check-consistency", check_api_reference)
    return {"parallel_read_safe": True}
