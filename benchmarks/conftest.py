import os
import sys

# Thread counts are set before NumPy (OpenBLAS), PyTorch or JAX load, and
# are the same for every library; run.py passes them in the environment.
_threads = os.environ.setdefault("FASTAD_BENCH_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_var, _threads)
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=%s" % _threads)
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_ENABLE_X64", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_collection_modifyitems(items):
    """Each problem's implementations one after another, in the order of
    the first of them, rather than every problem of one implementation and
    then the next: a shared machine's speed drifts over minutes, and a
    ratio is only as good as the time between its two timings.  Tests are
    matched by module and parameter id (test_fastad[bratu J-1024] with
    test_casadi_sx[bratu J-1024]); unparametrised ones keep their place."""
    def key(item):
        callspec = getattr(item, "callspec", None)
        return (item.module.__name__, callspec.id) if callspec is not None else item.nodeid

    first = {}
    for index, item in enumerate(items):
        first.setdefault(key(item), index)
    items[:] = sorted(items, key=lambda item: first[key(item)])
