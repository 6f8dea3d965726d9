"""Corrupted pickles of representative tapes, and the child process that
loads and uses them (for tests/test_hostile_pickles.py; not a test module).

A corrupt pickle may crash the process that loads it, so it is loaded and
used in a child: `run_jobs` sends a batch of corruptions to a child
(`child_main`), which reports the outcome of each as a JSON line before it
starts the next; when a child dies by a signal or a hang, the corruption it
had started is recorded as such and a new child takes the rest.

A corruption is (tape, mode, j): `j` picks, deterministically, one site and
value (the int modes) or one byte and its new value (the byte modes):

    int          one integer of a loader's arguments or of a recorded tape's
                 state (a node, position, shape, index, opcode, an element of
                 the operand columns...) set to -1, 0, n - 1, n, 2**31 - 1,
                 10**9, -3 or its neighbours, re-pickled as a writer would
                 (a recorded tape's digest made anew): what the checks must
                 refuse or survive
    int-stream   the same, the digest left as written: a pickle changed after
                 it was written (recorded tapes only)
    byte         one byte of the pickle changed (a recorded tape's payload,
                 its digest made anew; the core tape's whole stream)
    byte-stream  one byte of a recorded tape's pickle changed, digest and all

The outcomes: "refused" (ValueError from a loader), "load-error" (another
exception while unpickling), "use-error" (loaded, then a clean exception
when used), "same" (every result equal to the uncorrupted tape's, bit for
bit), "different" (other results that the tape's own central differences
confirm: a corrupted but consistent tape, computing another function),
"unverified" (other results where central differences cannot tell: values
that are not finite, a branch nearby), "inconsistent" (other results that
they contradict), "memory" (MemoryError raised while fastad loads:
something sized from garbage), "use-memory" (MemoryError when used: a
primitive's corrupted argument, such as a shape to create, asked for it),
"pickle-memory" (MemoryError from pickle itself, which allocates the memo
or the bytes a corrupt index or length asks for before any loader runs),
"unwritable" (the writer cannot write that corruption), and from the
parent "signal N", "hang" and "exit N".
"""
import faulthandler
import io
import json
import os
import pickle
import random
import subprocess
import sys
import time

try:
    import resource  # the children's address-space cap: Linux (see test_hostile_pickles)
except ImportError:
    resource = None

import numpy

import fastad as fd
import fastad.numpy as np
from fastad import _tape, recorded

HERE = os.path.dirname(os.path.abspath(__file__))


# -- the representative tapes ------------------------------------------------------

def rosen_loop(x):
    """A scalar loop reading elements (FA_ELEM nodes of a source)."""
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def guarded(x):
    """Guards: a Python `if` on a comparison, `where` on an array comparison,
    the kinks of abs, maximum and max."""
    total = 0.0
    if x[0] > 0.0:
        total = total + x[0] * 2.0
    y = np.where(x > 0.2, x, 0.1 * x)
    return total + np.sum(np.abs(y - 0.5) * np.maximum(x, 0.3)) + np.max(x)


def tree_fun(p):
    """A pytree argument: a dict of arrays, a float and a tuple."""
    return np.sum(np.tanh(p["w"] @ p["x"] + p["b"])) * p["s"][1] + np.sum(p["s"][0] ** 2)


def fused_rosen(x):
    """Rosenbrock on arrays: slices and one fused program with its sum."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _tree_point(shift):
    rng = numpy.random.default_rng(0)
    return {"w": rng.standard_normal((3, 4)) + shift, "x": rng.standard_normal(4),
            "b": 0.3 + shift, "s": (rng.standard_normal(2), 1.5)}


def fused_tape(n=64):
    """(core tape, input, output) of fused_rosen, recorded with fusion on
    for every size."""
    previous = _tape.set_fusion_threshold(0)
    try:
        tape = _tape.Tape()
        x = tape.array_leaf(numpy.linspace(-0.5, 1.0, n))
        y = fused_rosen(x)
        tape.close()
    finally:
        _tape.set_fusion_threshold(previous)
    return tape, x, y


def build(name):
    """(object to pickle, point, direction, node count) of a representative
    tape; recorded tapes carry their recorded gradient (for hvp)."""
    if name == "loop":
        x0 = numpy.array([0.5, -0.3, 0.8, 1.1, 0.2, -0.7])
        obj, point, direction = fd.record(rosen_loop, x0), x0 + 0.05, numpy.linspace(-1, 1, 6)
    elif name == "guards":
        # (op by op: the column checks name its nodes by number; fused
        # programs have a tape of their own below)
        x0 = numpy.array([0.6, 0.1, 0.9, 0.35, 0.8])
        previous = _tape.set_fusion_threshold(-1)
        try:
            obj, point, direction = fd.record(guarded, x0), x0 + 0.01, numpy.ones(5)
        finally:
            _tape.set_fusion_threshold(previous)
    elif name == "tree":
        obj, point, direction = fd.record(tree_fun, _tree_point(0.0)), _tree_point(0.01), \
            _tree_point(0.5)
    elif name == "fused":
        obj = fused_tape()
        return obj, numpy.linspace(-0.4, 1.1, 64), numpy.cos(numpy.arange(64.0)), len(obj[0])
    else:
        raise KeyError(name)
    obj.hvp(point, direction)  # (records the gradient tape, which pickles along)
    return obj, point, direction, len(obj._tape)


TAPES = ("loop", "guards", "tree", "fused")


def use(obj, point, direction):
    """Every result of a tape at `point`: value, gradient and hvp (recorded
    tapes), or value, gradient and tangent (core tapes)."""
    if isinstance(obj, recorded.Tape):
        return {"value": obj(point), "grad": obj.gradient(point),
                "hvp": obj.hvp(point, direction)}
    tape, x, y = obj
    tape.replay([x], [numpy.array(point)])
    return {"value": tape.box(y.node).value, "grad": tape.backward([(y, 1.0)], [x])[0],
            "tangent": tape.forward(0, [(x, numpy.array(direction))], [y])[0]}


def _leaves(tree):
    return [numpy.asarray(leaf, dtype=float) for leaf in fd.tree.flatten(tree)[0]]


def same(a, b):
    if set(a) != set(b):
        return False
    for key in a:
        la, lb = _leaves(a[key]), _leaves(b[key])
        if len(la) != len(lb) or not all(
                x.shape == y.shape and numpy.array_equal(x, y, equal_nan=True)
                for x, y in zip(la, lb)):
            return False
    return True


def _shifted(point, direction, h):
    leaves, treedef = fd.tree.flatten(point)
    steps = fd.tree.flatten(direction)[0]
    return fd.tree.unflatten(treedef, [numpy.asarray(p) + h * numpy.asarray(d) if numpy.ndim(p)
                                       else float(p + h * d) for p, d in zip(leaves, steps)])


def _dot(a, b):
    return float(sum(numpy.sum(x * y) for x, y in zip(_leaves(a), _leaves(b))))


def _close(a, b, tolerance=1e-4, slack=0.0):
    a, b = numpy.asarray(a, float), numpy.asarray(b, float)
    if a.shape != b.shape:
        return False
    if not numpy.array_equal(numpy.isfinite(a), numpy.isfinite(b)):
        return False
    finite = numpy.isfinite(a)
    scale = 1.0 + numpy.abs(a[finite]) + numpy.abs(b[finite])
    return bool(numpy.all(numpy.abs(a[finite] - b[finite]) <= tolerance * scale + slack))


def _total(x):
    """The sum of a result's elements (a scalar output as it is)."""
    return float(sum(numpy.sum(leaf) for leaf in _leaves(x)))


class Unverifiable(Exception):
    """The central differences cannot check these results."""


def consistent(obj, point, direction, results):
    """Whether a tape's differing results agree with its own central
    differences: the gradient with its values, the hvp (or tangent) with
    its gradient (a recorded tape's recorded gradient: with that tape's own
    values), within their rounding.  A corrupted tape may compute another
    function; a sweep reading or writing out of bounds would not compute
    its derivative."""
    def derivative_agrees(f, slope):
        for h in (1e-4, 1e-5, 1e-6, 1e-7):
            try:
                up = numpy.asarray(f(_shifted(point, direction, h)), float)
                down = numpy.asarray(f(_shifted(point, direction, -h)), float)
            except Exception:
                raise Unverifiable("another branch nearby")
            if not (numpy.all(numpy.isfinite(up)) and numpy.all(numpy.isfinite(down))):
                raise Unverifiable("values that are not finite")
            size = float(numpy.max(numpy.abs(up) + numpy.abs(down), initial=0.0))
            rounding = 1e3 * numpy.finfo(float).eps * size / h  # (the differences' own error)
            if _close((up - down) / (2 * h), slope, slack=rounding):
                return True
        return False
    if isinstance(obj, recorded.Tape):
        if not derivative_agrees(lambda p: obj(p), _dot(results["grad"], direction)):
            return False
        gradient_tape = obj._grad_tape
        if gradient_tape is None:
            return True
        return derivative_agrees(
            lambda p: numpy.concatenate([x.ravel() for x in _leaves(gradient_tape(p))]),
            numpy.concatenate([x.ravel() for x in _leaves(results["hvp"])]))
    # a core tape: the output's sum, swept forward and backward
    if not _close(_total(results["tangent"]), _dot(results["grad"], direction)):
        return False
    tape, x, y = obj

    def value(p):
        tape.replay([x], [numpy.array(p)])
        return _total(tape.box(y.node).value)
    return derivative_agrees(value, _total(results["tangent"]))


# -- corruption ------------------------------------------------------------------------

class _Reduced:
    """An object pickled as fn(*args)."""
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


class Corrupter(pickle.Pickler):
    """A pickler that passes the fields of every tape it writes through
    `edit(kind, index, fields)` (kind: "tape" for the core tape's loader
    arguments, "ext" for a record's, "box" for a traced value's, "state" for a
    recorded tape's state dict; index: the count of that kind so far,
    recorded tapes' payloads included, in the order they are written).  A
    recorded tape's payload is written by a Corrupter too, and its digest
    made anew, or with `stale` the digest of the payload as written
    without edits."""

    def __init__(self, file, edit, stale=False, counter=None):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.edit, self.stale = edit, stale
        self.counter = {} if counter is None else counter

    def _next(self, kind):
        index = self.counter.get(kind, 0)
        self.counter[kind] = index + 1
        return index

    def reducer_override(self, obj):
        kind = type(obj)
        if kind is _tape.Tape or kind is _tape.Ext or kind is _tape.Scalar or kind is _tape.Array:
            fn, args = obj.__reduce__()
            name = {_tape.Tape: "tape", _tape.Ext: "ext"}.get(kind, "box")
            return fn, tuple(self.edit(name, self._next(name), list(args)))
        if kind is recorded.Tape:
            index = self._next("state")
            state = obj.__getstate__()
            before = dict(self.counter)
            clean = dumps(state, lambda kind, index, fields: fields, counter=dict(before)) \
                if self.stale else None
            payload = dumps(self.edit("state", index, state), self.edit, self.stale, self.counter)
            digest = recorded._digest(clean if self.stale else payload)
            return recorded._unpickle, ({"format": recorded.FORMAT_VERSION, "digest": digest,
                                         "payload": payload},)
        return NotImplemented


def dumps(obj, edit=None, stale=False, counter=None):
    buffer = io.BytesIO()
    Corrupter(buffer, edit or (lambda kind, index, fields: fields), stale, counter).dump(obj)
    return buffer.getvalue()


# the integer sites of a pickle: (kind, index, path), a path leading from the
# fields into tuples, lists, dicts, slices, or ("column", field, node, itemsize)
# into a C column

def _int_paths(x, path=()):
    if type(x) is int:
        yield path
    elif type(x) in (tuple, list):
        for i, item in enumerate(x):
            yield from _int_paths(item, path + (i,))
    elif type(x) is dict:
        for key, value in x.items():
            if type(key) is int:
                yield path + (("key", key),)
            yield from _int_paths(value, path + (key,))
    elif type(x) is slice:
        for attribute in ("start", "stop", "step"):
            yield from _int_paths(getattr(x, attribute), path + (("slice", attribute),))


_COLUMNS = {1: 1, 2: 4, 3: 4}  # the core tape's opcode, operand0 and operand1 fields


def sites(obj):
    """Every integer site of obj's pickle."""
    found = []

    def walk(kind, index, fields):
        if kind == "tape":
            for field, itemsize in _COLUMNS.items():
                found.extend((kind, index, (("column", field, node, itemsize),))
                             for node in range(len(fields[field]) // itemsize))
            rest = [None if i in _COLUMNS else f for i, f in enumerate(fields)]
        elif kind == "state":
            rest = {key: value for key, value in fields.items() if key != "fun"}
        else:
            rest = fields
        found.extend((kind, index, path) for path in _int_paths(rest))
        return fields
    dumps(obj, walk)
    return found


def _get(x, key):
    if type(key) is tuple and key[0] == "slice":
        return getattr(x, key[1])
    if type(key) is tuple and key[0] == "key":
        return key[1]
    return x[key]


def _replaced(x, path, new):
    """x with the integer at `path` replaced by `new` (containers copied)."""
    key = path[0]
    if type(key) is tuple and key[0] == "column":
        _, field, node, itemsize = key
        column = numpy.frombuffer(x[field], numpy.uint8 if itemsize == 1 else numpy.int32).copy()
        column[node] = new % 256 if itemsize == 1 else numpy.int64(new).astype(numpy.int32)
        x = list(x)
        x[field] = column.tobytes()
        return x
    if len(path) == 1:
        inner = new
    else:
        inner = _replaced(_get(x, key), path[1:], new)
    if type(key) is tuple and key[0] == "slice":
        parts = {a: getattr(x, a) for a in ("start", "stop", "step")}
        parts[key[1]] = inner
        return slice(parts["start"], parts["stop"], parts["step"])
    if type(key) is tuple and key[0] == "key":
        out = dict(x)
        out[inner] = out.pop(key[1])
        return out
    if type(x) is dict:
        out = dict(x)
        out[key] = inner
        return out
    out = list(x)
    out[key] = inner
    return tuple(out) if type(x) is tuple else out


def _current(fields, path):
    key = path[0]
    if type(key) is tuple and key[0] == "column":
        _, field, node, itemsize = key
        column = numpy.frombuffer(fields[field], numpy.uint8 if itemsize == 1 else numpy.int32)
        return int(column[node])
    value = _get(fields, key)
    return value if len(path) == 1 else _current(value, path[1:])


def values_for(current, n, itemsize=None):
    if itemsize == 1:
        candidates = [0, 1, 2, 3, _tape.FIRST_COMPARISON, len(_tape.OPCODE_NAMES) - 1,
                      len(_tape.OPCODE_NAMES), 255, current - 1, current + 1]
    else:
        candidates = [-1, 0, n - 1, n, 2 ** 31 - 1, 10 ** 9, -3, current - 1, current + 1]
    out = []
    for v in candidates:
        if itemsize == 1:
            v %= 256
        if v != current and v not in out:
            out.append(v)
    return out


def int_corruption(obj, found, n, j, stale, value=None):
    """The pickle of obj with the j-th integer corruption, or with site j set
    to `value` (and its description)."""
    kind, index, path = found[j % len(found)]
    holder = {}

    def probe(k, i, fields):
        if (k, i) == (kind, index):
            holder["current"] = _current(fields, path)
        return fields
    dumps(obj, probe)
    current = holder["current"]
    itemsize = path[0][3] if type(path[0]) is tuple and path[0][0] == "column" else None
    choices = values_for(current, n, itemsize)
    new = choices[(j // len(found)) % len(choices)] if value is None else value

    def edit(k, i, fields):
        return _replaced(fields, path, new) if (k, i) == (kind, index) else fields
    return (dumps(obj, edit, stale),
            "%s[%d] %s: %d -> %d" % (kind, index, _path_text(path), current, new))


def _path_text(path):
    parts = []
    for key in path:
        if type(key) is tuple:
            parts.append("%s%s" % (key[0], key[1:]))
        else:
            parts.append(repr(key))
    return "/".join(parts)


def byte_corruption(data, j, behind_digest):
    """`data` with one byte changed (a bit flipped or a new value), chosen by
    j; behind_digest: in the recorded tape's payload, the digest made anew."""
    rng = random.Random(j)
    if behind_digest:
        fn, (wrapper,) = _outer(data)
        payload = bytearray(wrapper["payload"])
        position = rng.randrange(len(payload))
        old = payload[position]
        payload[position] = (old ^ (1 << rng.randrange(8)) if rng.random() < 0.5
                             else rng.randrange(256))
        payload = bytes(payload)
        new = pickle.dumps(_Reduced(recorded._unpickle, ({"format": recorded.FORMAT_VERSION,
                                                          "digest": recorded._digest(payload),
                                                          "payload": payload},)))
        return new, "payload byte %d: %d -> %d" % (position, old, payload[position])
    out = bytearray(data)
    position = rng.randrange(len(out))
    old = out[position]
    out[position] = old ^ (1 << rng.randrange(8)) if rng.random() < 0.5 else rng.randrange(256)
    return bytes(out), "byte %d: %d -> %d" % (position, old, out[position])


class _Outer(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("fastad.recorded", "_unpickle"):
            return lambda wrapper: ("unpickle", (wrapper,))
        return super().find_class(module, name)


def _outer(data):
    return _Outer(io.BytesIO(data)).load()


# -- the child -----------------------------------------------------------------------

def limit_memory(extra_bytes):
    """Cap the address space at what the process maps now plus extra_bytes:
    an allocation beyond fails (MemoryError) instead of happening."""
    with open("/proc/self/statm") as f:
        mapped = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (mapped + extra_bytes, resource.RLIM_INFINITY))


def child_main():
    """Read {"jobs": [[tape, mode, j], ...], "timeout": s, "memory": bytes} from
    stdin; print {"start": k} then {"done": k, "outcome", "detail"} per job."""
    faulthandler.enable()
    spec = json.loads(sys.stdin.readline())
    prepared = {}
    for name in sorted({job[0] for job in spec["jobs"]}):
        obj, point, direction, n = build(name)
        data = pickle.dumps(obj)
        reference = use(pickle.loads(data), point, direction)
        prepared[name] = [obj, data, point, direction, n, reference, None]
    limit_memory(spec.get("memory", 1 << 30))
    for k, (name, mode, j) in enumerate(spec["jobs"]):
        print(json.dumps({"start": k}), flush=True)
        faulthandler.dump_traceback_later(spec.get("timeout", 30), exit=True)
        outcome, detail = run_one(prepared, name, mode, j)
        faulthandler.cancel_dump_traceback_later()
        print(json.dumps({"done": k, "outcome": outcome, "detail": detail[:300]}), flush=True)


def _prepare_sites(prepared, name):
    if prepared[name][6] is None:
        prepared[name][6] = sites(prepared[name][0])
    return prepared[name][6]


def run_one(prepared, name, mode, j):
    obj, data, point, direction, n, reference, _ = prepared[name]
    recorded_tape = isinstance(obj, recorded.Tape)
    what = ""
    if mode == "selftest-crash":  # (the harness's own test: a signal, a hang)
        import ctypes
        ctypes.string_at(0)
    elif mode == "selftest-hang":
        time.sleep(3600)
    try:
        if mode in ("int", "int-stream"):
            corrupt, what = int_corruption(obj, _prepare_sites(prepared, name), n, j,
                                           stale=mode == "int-stream")
        elif mode == "selftest-ok":
            corrupt, what = data, "intact"
        elif mode.startswith("int-site:"):  # int-site:<site>:<value>
            _, site, value = mode.split(":")
            corrupt, what = int_corruption(obj, _prepare_sites(prepared, name), n, int(site),
                                           stale=False, value=int(value))
        else:
            corrupt, what = byte_corruption(data, j,
                                            behind_digest=mode == "byte" and recorded_tape)
    except Exception as error:  # (a corruption the writer itself cannot write)
        return "unwritable", "%s: %s: %s" % (what, type(error).__name__, error)
    try:
        loaded = pickle.loads(corrupt)
    except MemoryError as error:
        # (pickle itself allocates what a corrupt memo index or length asks
        # for, before any loader of fastad runs)
        return ("memory" if _in_fastad(error) else "pickle-memory"), "%s: load" % what
    except ValueError as error:
        if str(error).startswith(("a pickled fastad", "this fastad")):
            return "refused", "%s: %s" % (what, error)
        return "load-error", "%s: ValueError: %s" % (what, error)
    except Exception as error:
        return "load-error", "%s: %s: %s" % (what, type(error).__name__, error)
    try:
        results = use(loaded, point, direction)
    except MemoryError as error:
        # (a primitive asking at replay for what a corrupted argument says:
        # untake's shape, say; the digest refuses such a pickle unless made
        # anew, and no check of the loader can know an argument's meaning)
        return "use-memory", "%s: use: %s" % (what, error)
    except Exception as error:
        return "use-error", "%s: %s: %s" % (what, type(error).__name__, str(error)[:200])
    if same(results, reference):
        return "same", what
    try:
        agrees = consistent(loaded, point, direction, results)
    except Unverifiable as why:
        return "unverified", "%s (%s)" % (what, why)
    except MemoryError as error:
        return "memory", "%s: check: %s" % (what, error)
    except Exception as error:
        return "use-error", "%s: (while checking) %s: %s" % (what, type(error).__name__, error)
    return ("different" if agrees else "inconsistent"), what


def _in_fastad(error):
    """Whether `error` was raised in fastad's code, not by pickle itself (a
    recorded tape's loader calls pickle.loads on its payload)."""
    package = os.path.dirname(os.path.abspath(fd.__file__))
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    if code.co_name == "_unpickle" and code.co_filename.endswith("recorded.py"):
        return False
    return code.co_filename.startswith(package) or code.co_filename.startswith("src/fastad")


# -- the parent -------------------------------------------------------------------------

def child_env():
    env = dict(os.environ)
    source = os.path.dirname(os.path.dirname(os.path.abspath(fd.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([source, HERE] + ([env["PYTHONPATH"]]
                                                          if env.get("PYTHONPATH") else []))
    env["MALLOC_PERTURB_"] = "165"  # (freed and fresh heap memory is garbage, not zeros)
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def run_jobs(jobs, batch=200, timeout=30, memory=1 << 30):
    """The outcome and detail of every job, each child taking up to `batch`
    of them; a child that dies records its current job as "signal N",
    "hang" (the faulthandler watchdog's exit) or "exit N"."""
    results = [None] * len(jobs)
    pending = list(range(len(jobs)))
    while pending:
        ids = pending[:batch]
        process = subprocess.Popen(
            [sys.executable, "-c", "import hostile_tapes; hostile_tapes.child_main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=child_env(), text=True)
        out, err = process.communicate(json.dumps({"jobs": [jobs[i] for i in ids],
                                                   "timeout": timeout, "memory": memory}) + "\n",
                                       timeout=timeout * len(ids) + 120)
        started = None
        for line in out.splitlines():
            message = json.loads(line)
            if "start" in message:
                started = ids[message["start"]]
            else:
                results[ids[message["done"]]] = (message["outcome"], message["detail"])
                started = None
        if process.returncode != 0:
            tail = " | ".join(err.strip().splitlines()[-6:])
            if started is None:
                raise RuntimeError("a fuzz child failed outside any job (exit %d): %s"
                                   % (process.returncode, tail))
            if process.returncode < 0:
                kind = "signal %d" % -process.returncode
            elif "Timeout" in err:
                kind = "hang"
            else:
                kind = "exit %d" % process.returncode
            results[started] = (kind, "%r: %s" % (jobs[started], tail[-600:]))
        pending = [i for i in pending if results[i] is None]
    return results


def load_child_main(path, memory):
    """Load each pickle of the list at `path` ({"data", "point", "direction"}
    each: the pickle is data, the rest the test's own) and use it at its
    point, the address space capped at `memory` bytes above what is mapped
    once fastad has run; print, per pickle, the outcome and how far the peak
    resident memory has grown, as a JSON line."""
    faulthandler.enable()
    with open(path, "rb") as f:
        jobs = pickle.load(f)
    for name in TAPES:  # (warm up: every path a use takes has run once)
        obj, point, direction, _ = build(name)
        use(pickle.loads(pickle.dumps(obj)), point, direction)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    limit_memory(memory)
    for job in jobs:
        started = time.perf_counter()
        try:
            loaded = pickle.loads(job["data"])
            if job["point"] is not None:
                use(loaded, job["point"], job["direction"])
            out = {"error": None, "message": ""}
        except BaseException as error:
            out = {"error": type(error).__name__, "message": str(error)}
        loaded = None
        out["seconds"] = time.perf_counter() - started
        out["peak_growth"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
        print(json.dumps(out), flush=True)


def load_in_child(jobs, memory=100 << 20, timeout=300):
    """Load in one child process each pickle of `jobs`, (data, point,
    direction) triples, and use it at its point when one is given: (return
    code, the outcome dict of each pickle it finished, stderr)."""
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as f:
        pickle.dump([{"data": data, "point": point, "direction": direction}
                     for data, point, direction in jobs], f)
    try:
        process = subprocess.run(
            [sys.executable, "-c", "import sys, hostile_tapes; "
             "hostile_tapes.load_child_main(sys.argv[1], int(sys.argv[2]))", f.name, str(memory)],
            capture_output=True, text=True, env=child_env(), timeout=timeout)
    finally:
        os.unlink(f.name)
    return (process.returncode, [json.loads(line) for line in process.stdout.splitlines()],
            process.stderr)


def describe(job, result):
    return "%s %s %d: %s: %s" % (job[0], job[1], job[2], result[0], result[1])


if __name__ == "__main__":
    child_main()
