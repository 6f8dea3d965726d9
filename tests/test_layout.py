"""The layout rules of ARCHITECTURE.md, checked on the source tree: no import
circle among the library's modules, no op-table module reading a sibling's
private names, no source file over 1,000 lines, a design note atop every
compiled source."""
import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "src", "fastad")
CSRC = os.path.join(ROOT, "csrc")

pytestmark = pytest.mark.skipif(not os.path.isdir(PACKAGE),
                                reason="needs the source tree (src/fastad)")


def _modules():
    """module name -> path, for every Python and Cython module of fastad."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            stem, ext = os.path.splitext(name)
            if ext not in (".py", ".pyx"):
                continue
            parts = os.path.relpath(os.path.join(folder, stem), PACKAGE).split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(["fastad"] + parts)] = os.path.join(folder, name)
    return found


MODULES = _modules()


def _package_of(module, path):
    return module if path.endswith("__init__.py") else module.rpartition(".")[0]


def _target(name):
    """The fastad module that importing `name` loads (the longest known prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module, path):
    """(imported module, names taken from it) for every import of a module, at
    any depth (inside functions too), relative ones resolved."""
    package = _package_of(module, path)
    if path.endswith(".py"):
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        statements = [node for node in ast.walk(tree)
                      if isinstance(node, (ast.Import, ast.ImportFrom))]
    else:
        # Cython: the Python-level imports of the module and its includes
        statements = []
        sources = [path] + [os.path.join(os.path.dirname(path), include) for include in
                            re.findall(r'^include "([^"]+)"', open(path).read(), re.M)]
        for source in sources:
            for line in open(source):
                if re.match(r"\s*(from\s+\S+\s+import\s|import\s)", line) and " cimport " not in line:
                    statements.append(ast.parse(line.strip()).body[0])
    for node in statements:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
            continue
        if node.level:
            base = package.split(".")
            if node.level > 1:
                base = base[:-(node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module
        for alias in node.names:
            submodule = source + "." + alias.name
            if submodule in MODULES:
                yield submodule, ()
            else:
                yield source, (alias.name,)


def _graph():
    graph = {}
    for module, path in MODULES.items():
        edges = graph.setdefault(module, set())
        for imported, _ in _imports(module, path):
            target = _target(imported)
            if target is not None and target != module:
                edges.add(target)
    return graph


def _circles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def test_the_graph_sees_the_imports():
    graph = _graph()
    assert "fastad._tape" in graph["fastad.ops"]
    assert "fastad.ops.elementwise" in graph["fastad.numpy"]
    assert "fastad._version" in graph["fastad._tape"]  # (an import inside a function)


def test_no_import_circle():
    assert _circles(_graph()) == []


#: ARCHITECTURE.md's layers, bottom up: a module imports its own layer and
#: the ones below it only
LAYERS = [
    ["fastad._version", "fastad._tape"],
    ["fastad.ops", "fastad.ops.*"],
    ["fastad.tree", "fastad.debug", "fastad.extend", "fastad.sweeps", "fastad.core",
     "fastad.forward", "fastad.recorded", "fastad.taylor", "fastad.checks", "fastad.ravel",
     "fastad.unrecorded", "fastad.derivative_products", "fastad.mapping", "fastad.batching",
     "fastad.sparsity", "fastad.sparse_derivatives"],
    ["fastad.numpy", "fastad.numpy.*", "fastad.scipy", "fastad.scipy.*"],
    ["fastad.nn", "fastad.optimize", "fastad.optim", "fastad.distributed", "fastad.ipopt",
     "fastad._ipopt_c", "fastad.misc", "fastad.misc.*"],
    ["fastad"],
    ["fastad.demo"],
]


def _layer(module):
    for level, patterns in enumerate(LAYERS):
        for pattern in patterns:
            if module == pattern or (pattern.endswith(".*") and
                                     module.startswith(pattern[:-1])):
                return level
    return None


def test_every_module_has_a_layer():
    assert [m for m in MODULES if _layer(m) is None] == []


def test_no_module_imports_a_layer_above_its_own():
    upward = [(module, target) for module, targets in _graph().items()
              for target in targets if _layer(target) > _layer(module)]
    assert upward == []


def test_op_table_modules_do_not_import_private_names_of_siblings():
    offending = []
    for module, path in MODULES.items():
        if not module.startswith("fastad.ops"):
            continue
        for imported, names in _imports(module, path):
            target = _target(imported)
            if target is None or not target.startswith("fastad.ops") or target == module:
                continue
            private = [n for n in names if n.startswith("_")]
            if private or imported.rpartition(".")[2].startswith("_"):
                offending.append((module, imported, private))
    assert offending == []


def _sources():
    """Every hand-written source file (not the C that Cython generates)."""
    for folder in (PACKAGE, CSRC):
        for base, _, files in os.walk(folder):
            for name in files:
                stem, ext = os.path.splitext(name)
                if ext == ".c" and stem + ".pyx" in files:
                    continue
                if ext in (".py", ".pyx", ".pxi", ".pxd", ".c", ".h"):
                    yield os.path.join(base, name)


def test_no_source_file_over_1000_lines():
    long = {os.path.relpath(p, ROOT): n for p in _sources()
            if (n := sum(1 for _ in open(p))) > 1000}
    assert long == {}


def _opening_note(lines):
    """The lines of the comment or docstring a file opens with."""
    lines = [line for line in lines if not line.startswith("# cython:")]
    if not lines:
        return []
    first = lines[0]
    if first.startswith("#"):
        return [line for line in lines[:next((i for i, line in enumerate(lines)
                                               if not line.startswith("#")), len(lines))]]
    end = {"/*": "*/", '"""': '"""'}.get(first[:3] if first.startswith('"""') else first[:2])
    if end is None:
        return []
    for i, line in enumerate(lines):
        if end in (line[3:] if i == 0 else line):
            return lines[:i + 1]
    return []


def test_every_compiled_source_opens_with_a_design_note():
    missing = []
    for path in _sources():
        if path.endswith((".pyx", ".pxi", ".c", ".h")):
            with open(path) as f:
                if len(_opening_note(f.read().splitlines())) < 3:  # more than a title
                    missing.append(os.path.relpath(path, ROOT))
    assert missing == []
