"""The README's quick start runs and prints what it says."""
import os
import re

import numpy

README = os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")


def test_quick_start_runs():
    with open(README) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert blocks, "the README has no Python example"
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    grads = namespace["grads"]
    assert set(grads) == {"W1", "b1", "W2"}
    assert all(numpy.all(numpy.isfinite(g)) for g in grads.values())
    fd = namespace["fd"]
    np = namespace["np"]
    g = fd.grad(lambda x, y: np.log(x) + x * y - np.sin(y), argnum=(0, 1))(2.0, 5.0)
    assert g == (5.5, 1.7163378145367738)
