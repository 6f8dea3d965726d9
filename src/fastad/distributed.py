"""Data-parallel gradients and batched tape evaluation on Dask.

    from dask.distributed import Client
    client = Client(cluster)                      # any Dask cluster
    g = fastad.distributed.grad_sum(loss, params, shards, client=client)
    G = fastad.distributed.tape_map(tape, points, "gradient", client=client)

fastad grows no cluster of its own: the work runs on Dask, and recorded
tapes (which pickle) are the unit of work — a tape is sent to each worker
once, then evaluated there at many inputs.  With `client=None` the same
calls run in this process, without Dask, so code is prototyped locally and
scaled by passing a client.  Install with `pip install "fastad[distributed]"`.
"""
import hashlib
import pickle
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import CancelledError

import numpy as np

from .core import value_and_grad
from .recorded import RetapeRequired, Tape, record
from .tree import flatten, tree_map, unflatten

__all__ = ["grad_sum", "value_and_grad_sum", "tape_map"]


def _add_note(error, note):
    """Attach `note` to `error` (PEP 678's add_note on Python >= 3.11; the
    notes list, which the traceback of 3.10 does not print, otherwise)."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:
        error.__notes__ = getattr(error, "__notes__", []) + [note]


# -- the client ------------------------------------------------------------------

def _check_client(client, caller):
    """Fail before any work is sent when `client` cannot take it, saying
    what would work (a closed client otherwise fails deep inside Dask, as an
    AttributeError on its missing scheduler connection)."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError("fastad.distributed.%s: client= needs Dask: pip install "
                          "\"fastad[distributed]\", or pass client=None to compute in this "
                          "process" % caller) from exc
    if not isinstance(client, Client):
        raise TypeError("fastad.distributed.%s: client must be a dask.distributed.Client, got %s; "
                        "connect one with Client(cluster) or Client(\"tcp://host:8786\"), or pass "
                        "client=None to compute in this process" % (caller, type(client).__name__))
    if client.status in ("closing", "closed"):
        try:
            from distributed.client import ClosedClientError as error
        except ImportError:
            error = RuntimeError
        raise error("fastad.distributed.%s: the Dask client is %s, so it cannot send work; create "
                    "a new one (Client(cluster), or Client(address) for the same scheduler) and "
                    "pass it, or pass client=None to compute in this process"
                    % (caller, client.status))


# -- tape_map ---------------------------------------------------------------------

def _as_args(item):
    return item if isinstance(item, tuple) else (item,)


def _evaluate(tape, method, items, kwargs):
    """Evaluate a chunk; `items` is a list of inputs, or a tuple of stacked
    argument columns (one array per positional argument).  Returns the
    results stacked, so the client only concatenates."""
    fun = getattr(tape, method)
    if isinstance(items, tuple):
        results = [fun(*row, **kwargs) for row in zip(*items)]
    else:
        results = [fun(*_as_args(item), **kwargs) for item in items]
    return _stack(results)


class _ShippedTape:
    """A tape as the workers hold it: its pickle, and each worker thread's
    own copy, unpickled on its first use there.  A Tape keeps the state of
    its last replay, so one copy shared by the threads of a worker would mix
    their inputs up and give wrong results without an error.

    The pickle leaves the user's function out (replay never runs it), so a
    function defined in `__main__`, a notebook or a module the workers do
    not have does not stop the tape from loading there.  Only when the
    method may record again (`retape=True`, `hessian`, `hvp`) does the
    function come too, as its own pickle (cloudpickle sends `__main__`
    functions by value); if it does not load on a worker, the tape still
    replays there, and a re-recording raises RetapeRequired saying why."""

    def __init__(self, tape_bytes, fun_bytes=None, fun_problem=None):
        self.tape_bytes, self.fun_bytes, self.fun_problem = tape_bytes, fun_bytes, fun_problem
        self.fun = None
        if fun_bytes is not None:
            try:
                self.fun = pickle.loads(fun_bytes)
            except Exception as exc:  # the tape still replays; recording again needs it
                self.fun_problem = ("its function did not load on this worker (%s: %s); define it "
                                    "in a module the workers can import"
                                    % (type(exc).__name__, exc))
        self._local = threading.local()
        self.tape()  # a tape that does not load fails this task, not each chunk

    def __reduce__(self):  # copied between workers (replicate) as its pickles
        return (_ShippedTape, (self.tape_bytes, self.fun_bytes, self.fun_problem))

    def tape(self):
        tape = getattr(self._local, "tape", None)
        if tape is None:
            tape = pickle.loads(self.tape_bytes)
            if self.fun is not None:
                tape.fun = self.fun
            self._local.tape = tape
        return tape


def _evaluate_shipped(shipped, method, items, kwargs):
    """`_evaluate` on a worker, with this thread's copy of the tape."""
    try:
        return _evaluate(shipped.tape(), method, items, kwargs)
    except RetapeRequired as exc:
        if shipped.fun_problem is not None:
            _add_note(exc, "fastad.distributed.tape_map: the tape cannot record again on the "
                      "workers: " + shipped.fun_problem)
        raise


def _stack(results):
    """Results in input order: one array per output leaf, stacked along a
    new first axis (the structure of a single result is kept)."""
    if not results:
        return results
    leaves = [flatten(r)[0] for r in results]
    treedef = flatten(results[0])[1]
    try:
        stacked = [np.stack([np.asarray(l[i]) for l in leaves]) for i in range(len(leaves[0]))]
    except ValueError:  # shapes differ between inputs: keep the list
        return results
    return unflatten(treedef, stacked)


def _concatenate(parts):
    if isinstance(parts[0], list):
        return [r for part in parts for r in part]
    leaves = [flatten(p)[0] for p in parts]
    treedef = flatten(parts[0])[1]
    return unflatten(treedef, [np.concatenate([l[i] for l in leaves]) for i in range(len(leaves[0]))])


def _columns(inputs):
    """The inputs as one stacked array per positional argument, when every
    input has the same flat (non-pytree) arguments; else None."""
    rows = [_as_args(item) for item in inputs]
    n_args = len(rows[0])
    if any(len(r) != n_args or any(isinstance(a, (tuple, list, dict)) for a in r) for r in rows):
        return None
    try:
        return tuple(np.stack([np.asarray(r[k]) for r in rows]) for k in range(n_args))
    except ValueError:
        return None


_METHODS = {"gradient", "value_and_grad", "__call__", "jacobian", "hessian", "hvp", "jvp", "vjp"}


def tape_map(tape, inputs, method="gradient", client=None, chunk_size=None, retries=3, **kwargs):
    """Evaluate `tape.<method>(*args)` at every entry of `inputs` (an
    argument, or a tuple of arguments), in input order: `method` is
    "gradient" (default), "value_and_grad", "__call__", "jacobian",
    "hessian", "hvp", "jvp" or "vjp".  Results are stacked along a new first
    axis.  With a Dask `client`, the tape is sent to every worker once and
    the inputs go in chunks (one per worker by default).  Chunks lost with
    a worker (Dask reruns tasks, but not data that only lived there) are
    sent again, up to `retries` times; results never come back partial.
    With `client=None` the inputs are evaluated in this process.

    >>> from dask.distributed import Client
    >>> client = Client(processes=False, n_workers=1, threads_per_worker=1,
    ...                 dashboard_address=None)
    >>> tape = fastad.record(lambda x: np.sum(x ** 2), np.zeros(2))
    >>> points = [np.array([1.0, 2.0]), np.array([3.0, 4.0])]
    >>> fastad.distributed.tape_map(tape, points, "gradient", client=client)
    array([[2., 4.],
           [6., 8.]])
    >>> client.close()
    """
    if method not in _METHODS:
        raise ValueError("tape_map: unknown method %r; use one of %s"
                         % (method, ", ".join(sorted(_METHODS))))
    if not isinstance(tape, Tape):
        raise TypeError("tape_map: expected a tape from fastad.record(fun, *example_args), got %s"
                        % type(tape).__name__)
    inputs = list(inputs)
    if client is None or not inputs:
        return _evaluate(tape, method, inputs, kwargs)
    _check_client(client, "tape_map")
    from distributed import KilledWorker
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    if chunk_size is None:  # one chunk per worker: the least scheduling
        chunk_size = max(1, -(-len(inputs) // n_workers))
    columns = _columns(inputs)  # arrays serialise far faster than lists of tuples
    if columns is not None:
        chunks = [tuple(c[i:i + chunk_size] for c in columns)
                  for i in range(0, len(inputs), chunk_size)]
    else:
        chunks = [inputs[i:i + chunk_size] for i in range(0, len(inputs), chunk_size)]
    results = [None] * len(chunks)
    pending = list(range(len(chunks)))
    for attempt in range(1 + retries):
        shared = _shared_tape(client, tape, _needs_function(tape, method), fresh=attempt > 0)
        futures = {i: client.submit(_evaluate_shipped, shared, method, chunks[i], kwargs,
                                    pure=False)
                   for i in pending}
        lost = []
        for i, future in futures.items():
            try:
                results[i] = future.result()
            except (CancelledError, KilledWorker) as exc:
                # a worker died holding the tape's only copy (or the task
                # itself): send the tape again and rerun what was lost
                lost.append(i)
                last = exc
        if not lost:
            return _concatenate(results)
        pending = lost
    raise RuntimeError("tape_map: %d chunks lost to failed workers after %d retries"
                       % (len(pending), retries)) from last


# shipped tapes, per client and tape: a tape goes to the workers once, not per
# call, and its copies there are released when the tape (or client) is gone
_SCATTERED = weakref.WeakKeyDictionary()


def _needs_function(tape, method):
    """Whether evaluating `method` may record the tape again, which runs its
    function: on a flipped branch with retape=True, and hessian/hvp, which
    record the gradient on first use."""
    return bool(tape.retape) or method in ("hessian", "hvp")


def _payload(tape, with_function):
    """(the tape's pickle without its function, the function's pickle or
    None, why it is missing or None)."""
    bare = Tape.__new__(type(tape))
    bare.__dict__.update(tape.__dict__)
    bare.fun = None  # Tape.__getstate__ would keep a function that pickles by name
    bare._grad_tape = None
    bare._loaded = None
    tape_bytes = pickle.dumps(bare)
    if not with_function:
        return tape_bytes, None, None
    if tape.fun is None:
        return tape_bytes, None, "the tape has no function (it was unpickled without one)"
    try:
        return tape_bytes, _dumps(tape.fun), None
    except Exception as exc:
        return tape_bytes, None, ("its function does not pickle (%s: %s)"
                                  % (type(exc).__name__, exc))


def _shared_tape(client, tape, with_function, fresh=False):
    """A future holding `tape` on every worker (sent once to each).  It is
    the result of a task that unpickles it, not scattered data: if the
    workers holding it die, Dask recomputes it from the task."""
    per_client = _SCATTERED.setdefault(client, weakref.WeakKeyDictionary())
    per_tape = per_client.setdefault(tape, {})
    future = per_tape.get(with_function)
    if not fresh and future is not None and future.status == "finished":
        return future
    future = client.submit(_ShippedTape, *_payload(tape, with_function), pure=False)
    try:
        client.replicate([future])  # on every worker, so chunks are not all sent to one
    except Exception:
        pass  # only a placement hint: while workers come and go, Dask places it itself
    per_tape[with_function] = future
    return future


def bytes_per_worker(tape, method="gradient"):
    """The bytes `tape_map` sends to each worker for `tape` (its pickle, and
    its function's when `method` may record again)."""
    tape_bytes, fun_bytes, _ = _payload(tape, _needs_function(tape, method))
    return len(tape_bytes) + len(fun_bytes or b"")


# -- sharded gradients -------------------------------------------------------------

# per thread (a Tape keeps the state of its last replay, so the threads of a
# worker must not share one): recorded tapes by (function, argument shapes),
# at most _MAX_TAPES, the least recently used dropped first (a new closure per
# call, e.g. one capturing a step count, would otherwise grow it forever)
_TAPES = threading.local()
_MAX_TAPES = 32


def _thread_tapes():
    cache = getattr(_TAPES, "cache", None)
    if cache is None:
        cache = _TAPES.cache = OrderedDict()
    return cache


def _shard_value_and_grad(fun_bytes, params, shard, index, use_tape):
    """Value and gradient of fun(params, shard) on a worker, replaying a
    tape recorded there for this function and these shapes when it can."""
    fun = pickle.loads(fun_bytes)
    try:
        if use_tape:
            key = (hashlib.sha1(fun_bytes).hexdigest(), _signature(params), _signature(shard))
            tapes = _thread_tapes()
            tape = tapes.get(key)
            if tape is None:
                try:
                    tape = tapes[key] = record(fun, params, shard, retape=True,
                                               guard_kinks=False)  # exact at kinks
                except (TypeError, NotImplementedError):
                    tape = None
                while len(tapes) > _MAX_TAPES:
                    tapes.popitem(last=False)
            else:
                tapes.move_to_end(key)
            if tape is not None:
                value, grads = tape.value_and_grad(params, shard)
                return float(value), grads[0]
        return value_and_grad(fun)(params, shard)
    except Exception as exc:
        _add_note(exc, "raised by fastad.distributed for shard %d" % index)
        raise


def _signature(tree):
    leaves, treedef = flatten(tree)
    return repr(treedef), tuple((np.shape(leaf), str(np.asarray(leaf).dtype)) for leaf in leaves)


def _add(a, b):
    return (a[0] + b[0], tree_map(lambda x, y: x + y, a[1], b[1]))


def _tree_reduce(client, futures):
    """Pairwise sums as tasks: log2(shards) levels, no single hot spot."""
    while len(futures) > 1:
        pairs = [client.submit(_add, futures[i], futures[i + 1], pure=False)
                 for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            pairs.append(futures[-1])
        futures = pairs
    return futures[0]


def value_and_grad_sum(fun, params, shards, client=None, use_tape=True):
    """(sum_s fun(params, shard_s), its gradient with respect to params),
    computed shard by shard: on the workers of a Dask `client` (shards may
    be lists of arrays, or Dask futures/delayed objects so that data stays
    where it is), or in this process with `client=None`.  `params` is a
    pytree; the gradient has its structure.  Each worker replays one
    recorded tape per function and shard shape where the function allows.

    >>> from dask.distributed import Client
    >>> client = Client(processes=False, n_workers=1, threads_per_worker=1,
    ...                 dashboard_address=None)
    >>> loss = lambda w, shard: np.sum((w - shard) ** 2)
    >>> shards = [np.array([1.0, 2.0]), np.array([3.0, 4.0])]
    >>> fastad.distributed.value_and_grad_sum(loss, np.zeros(2), shards, client=client)
    (30.0, array([ -8., -12.]))
    >>> client.close()
    """
    if client is not None:
        _check_client(client, "value_and_grad_sum")
    fun_bytes = _dumps(fun)
    shards = _shard_list(shards, client)
    if not shards:
        raise ValueError("value_and_grad_sum needs at least one shard")
    if client is None:
        partial = [_shard_value_and_grad(fun_bytes, params, shard, i, use_tape)
                   for i, shard in enumerate(shards)]
        total = partial[0]
        for p in partial[1:]:
            total = _add(total, p)
        return total
    # one future for the whole pytree, under a key of its own: scattered by
    # content hash, a second call with equal parameters gets the same key,
    # which the first call's future then releases under it ("lost
    # dependencies"); and a dict would be scattered under its own keys
    # ("w", "b"), replacing any data of the user's with those names
    (params_future,) = client.scatter([params], broadcast=True, hash=False)
    futures = [client.submit(_shard_value_and_grad, fun_bytes, params_future, shard, i, use_tape,
                             pure=False)
               for i, shard in enumerate(shards)]
    return client.gather(_tree_reduce(client, futures))


def _shard_list(shards, client):
    """Shards as a list: a Dask array or bag gives its partitions, and with a
    client, Dask collections (delayed objects, ...) become futures computed
    on the workers, so the data never comes to this process."""
    if hasattr(shards, "to_delayed") and hasattr(shards, "__dask_graph__"):
        delayed = shards.to_delayed()
        shards = list(np.ravel(delayed)) if hasattr(delayed, "shape") else list(delayed)
    shards = list(shards)
    if client is not None:
        shards = [client.compute(s) if hasattr(s, "__dask_graph__") else s for s in shards]
    else:
        shards = [s.compute() if hasattr(s, "__dask_graph__") else s for s in shards]
    return shards


def grad_sum(fun, params, shards, client=None, use_tape=True):
    """The gradient of sum_s fun(params, shard_s) with respect to params
    (see value_and_grad_sum): on the workers of a Dask `client`, or in this
    process with `client=None`.

    >>> from dask.distributed import Client
    >>> client = Client(processes=False, n_workers=1, threads_per_worker=1,
    ...                 dashboard_address=None)
    >>> loss = lambda w, shard: np.sum((w - shard) ** 2)
    >>> shards = [np.array([1.0, 2.0]), np.array([3.0, 4.0])]
    >>> fastad.distributed.grad_sum(loss, np.zeros(2), shards, client=client)
    array([ -8., -12.])
    >>> fastad.distributed.grad_sum(loss, np.zeros(2), shards)  # in this process
    array([ -8., -12.])
    >>> client.close()
    """
    if client is not None:
        _check_client(client, "grad_sum")
    return value_and_grad_sum(fun, params, shards, client, use_tape)[1]


def _dumps(fun):
    try:
        import cloudpickle  # lambdas and closures, as Dask ships them
        return cloudpickle.dumps(fun)
    except ImportError:
        return pickle.dumps(fun)
