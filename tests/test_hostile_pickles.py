"""Corrupt and inconsistent pickles of tapes: the loaders refuse them with a
ValueError naming the field, before any C code reads them, and allocate
nothing by what they claim.  Every corrupted pickle is loaded and used in a
child process (tests/hostile_tapes.py), which a crash would kill; the
fuzz at the end corrupts single integers and bytes of representative tapes.

The fuzz's bounded profile runs here; FASTAD_FUZZ_LONG=1 (or
`--hypothesis-profile=long`) runs 10,080 corruptions."""
import collections
import os
import pickle
import random
import sys
import time

import numpy
import pytest

import fastad as fd
from fastad import _tape

import hostile_tapes as hostile
from hostile_tapes import dumps, load_in_child

MB = 1 << 20

# The children cap their address space (RLIMIT_AS) at what /proc/self/statm
# says they map, and read their peak from ru_maxrss in KiB: Linux's.
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the capped children need Linux's RLIMIT_AS and /proc")

# the fields of the core tape's loader and of an Ext record, by name
TAPE = {name: i for i, name in enumerate(
    ["version", "opcode", "operand0", "operand1", "primal", "constants", "exts", "active",
     "keep_all", "guarding", "guard_sources", "source_nodes", "source_arrays"])}
EXT = {name: i for i, name in enumerate(
    ["primitive", "args", "kwargs", "parents", "inputs", "value", "scalar_out", "shape", "dtype",
     "guard", "where"])}


class Refusals:
    """Corrupted pickles, each to be refused with a ValueError whose message
    holds `match`: `check` loads and uses them all in one child process,
    which must exit normally, with its address space capped and its peak
    resident memory grown by less than `memory`."""

    def __init__(self):
        self.cases = []

    def add(self, data, match, at=None):
        """`at`: (point, direction) where to use the tape if it loads."""
        point, direction = at if at is not None else (None, None)
        self.cases.append((data, match, point, direction))

    def check(self, memory=100 * MB):
        code, outcomes, err = load_in_child([(d, p, v) for d, _, p, v in self.cases], memory)
        assert code == 0, "the child died (%d) at pickle %d: %s" % (code, len(outcomes),
                                                                     err[-3000:])
        messages = []
        for (_, match, _, _), out in zip(self.cases, outcomes):
            assert out["error"] == "ValueError", (match, out)
            assert match in out["message"], (match, out["message"])
            assert out["peak_growth"] < memory, out
            messages.append(out["message"])
        return messages


def edit_of(kind, index, change):
    """An edit for hostile.dumps: `change` applied to the fields of the
    index-th object of that kind."""
    def edit(k, i, fields):
        return change(fields) if (k, i) == (kind, index) else fields
    return edit


def setting(kind, index, field, value):
    """An edit setting one field of one object (by position, or a state key)."""
    def change(fields):
        fields = dict(fields) if kind == "state" else list(fields)
        fields[field] = value
        return fields
    return edit_of(kind, index, change)


@pytest.fixture(scope="module")
def tapes():
    built = {name: hostile.build(name) for name in hostile.TAPES}
    AT.update({name: (point, direction) for name, (_, point, direction, _) in built.items()})
    return built


#: where each representative tape is used: (point, direction)
AT = {}


def _ext_index(tape, node):
    """The count of Ext records pickled before node `node`'s (a recorded
    tape's own records come first)."""
    return sum(1 for i in range(node) if tape.ext(i) is not None)


def test_intact_pickles_load_and_give_the_same_results(tapes):
    jobs = []
    for obj, point, direction, _ in tapes.values():
        data = pickle.dumps(obj)
        reference = hostile.use(pickle.loads(data), point, direction)
        assert hostile.same(hostile.use(pickle.loads(data), point, direction), reference)
        assert hostile.same(hostile.use(pickle.loads(dumps(obj)), point, direction), reference)
        jobs.append((data, point, direction))
    code, outcomes, err = load_in_child(jobs)
    assert code == 0 and [out["error"] for out in outcomes] == [None] * 4, (outcomes, err)


# -- the issue's cases, one by one ---------------------------------------------------

def test_source_listed_without_its_array(tapes):
    obj, r = tapes["loop"][0], Refusals()
    r.add(dumps(obj, setting("tape", 0, TAPE["source_arrays"], [])), at=AT["loop"],
          match="source_nodes lists 1 sources, but source_arrays holds 0 arrays")
    for wrong, message in ((numpy.zeros(5), "is an array of 5 elements of float64, not the 6"),
                           (numpy.zeros(6, numpy.float32), "is an array of 6 elements of float32"),
                           ("data", "is str 'data'")):
        r.add(dumps(obj, setting("tape", 0, TAPE["source_arrays"], [wrong])), at=AT["loop"],
              match="source_arrays[0] " + message)
    # a source that is not an array node, or one listed twice
    r.add(dumps(obj, setting("tape", 0, TAPE["source_nodes"], [1])), at=AT["loop"],
          match="source_nodes[0] is node 1, which holds a scalar, not an array")

    def twice(fields):
        fields = list(fields)
        fields[TAPE["source_nodes"]] = [0, 0]
        fields[TAPE["source_arrays"]] = fields[TAPE["source_arrays"]] * 2
        return fields
    r.add(dumps(obj, edit_of("tape", 0, twice)), at=AT["loop"],
          match="source_nodes[1] is node 0, already source 0")
    assert len(r.check()) == len(r.cases)  # each refused, by its message, in a child


def test_side_table_entry_that_is_not_an_ext(tapes):
    obj, r = tapes["loop"][0], Refusals()
    records = obj._tape.exts
    r.add(dumps(obj, setting("tape", 0, TAPE["exts"], ["not an Ext"] + records[1:])),
          at=AT["loop"], match="exts[0] (node 0) is str 'not an Ext', not an Ext record")
    # an Ext that pickle made without its loader, whose fields are of no type
    bare = hostile._Reduced(_tape.Ext.__new__, (_tape.Ext,))
    r.add(dumps(obj, setting("tape", 0, TAPE["exts"], [bare])), at=AT["loop"],
          match="exts[0] (node 0).args is NoneType None, not a tuple")
    # one record for two nodes
    records = list(tapes["fused"][0][0].exts)
    records[2] = records[1]
    r.add(dumps(tapes["fused"][0], setting("tape", 0, TAPE["exts"], records)), at=AT["fused"],
          match="exts[2] is the record of an earlier node too")
    assert len(r.check()) == len(r.cases)  # each refused, by its message, in a child


class _Named:
    """Pickles as the op-table primitive of a name (which may not exist)."""
    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        return _tape._primitive_by_name, (self.name,)


def test_ext_whose_primitive_is_a_string(tapes):
    obj, r = tapes["guards"][0], Refusals()
    node = 7
    assert obj._tape.ext(node).primitive.name == "multiply"
    index = _ext_index(obj._tape, node)
    for primitive, message in (("sin", "Ext.primitive is str 'sin'"),
                               (numpy.sin, "Ext.primitive is ufunc"),
                               (_Named("nothing"), "a primitive's name is str 'nothing', not in "
                                                   "fastad's op table")):
        r.add(dumps(obj, setting("ext", index, EXT["primitive"], primitive)), at=AT["guards"],
              match=message)
    assert len(r.check()) == len(r.cases)  # each refused, by its message, in a child


@pytest.mark.parametrize("field", ["parents", "inputs"])
def test_ext_parents_and_inputs_past_the_tape(tapes, field):
    obj, r = tapes["guards"][0], Refusals()
    tape = obj._tape
    node = 7 if field == "parents" else 6  # a multiply (parents), a guard (inputs only)
    assert (tape.ext(node).guard, tape.ext(node).parents == ()) == (field == "inputs",) * 2
    index = _ext_index(tape, node)
    for target in (10 ** 8, len(tape), node, -3):
        def change(fields, target=target):
            fields = list(fields)
            fields[EXT[field]] = tuple((position, target) for position, _ in fields[EXT[field]])
            return fields
        r.add(dumps(obj, edit_of("ext", index, change)), at=AT["guards"],
              match="(position, node) pairs" if target < 0 else
              ".%s holds node %d, not one before node %d" % (field, target, node))
    assert len(r.check()) == len(r.cases)  # each refused, by its message, in a child


def test_scalar_output_node_out_of_range(tapes):
    """(The recorded tape's `_scalar_node` is its output's node, which is
    checked against the tape when it loads, like every output.)"""
    obj, r = tapes["loop"][0], Refusals()
    n = len(obj._tape)
    treedef = obj._out_treedef
    for node in (10 ** 9, n, -1, 2 ** 31 - 1):
        r.add(dumps(obj, setting("state", 0, "outputs", (treedef, [("traced", node)]))),
              at=AT["loop"], match="outputs[0] is node %d of a tape of %d" % (node, n))
    # an output node that holds no value: a comparison
    obj = tapes["guards"][0]
    r.add(dumps(obj, setting("state", 0, "outputs", (treedef, [("traced", 3)]))), at=AT["guards"],
          match="outputs[0] is node 3, which holds no value")
    assert len(r.check()) == len(r.cases)  # each refused, by its message, in a child


def test_boxed_input_out_of_range(tapes):
    obj, r = tapes["loop"][0], Refusals()
    for node in (10 ** 9, -3, 1):
        r.add(dumps(obj, setting("state", 0, "inputs", [[node]])), at=AT["loop"],
              match="inputs[0][0] is %d, but the inputs are the tape's first nodes" % node)
    # a traced value pickled with its core tape
    for node in (10 ** 9, -3):
        r.add(dumps(tapes["fused"][0], setting("box", 0, 1, node)), at=AT["fused"],
              match="a traced value's node is int %d, not one of the tape's 5 nodes" % node)
    # an input of another kind than its spec: a scalar spec for an array input
    treedef = obj._structure[0][0]
    specs = [("scalar", (), numpy.dtype(numpy.float64), float)]
    r.add(dumps(obj, setting("state", 0, "structure", [(treedef, specs)])), at=AT["loop"],
          match="inputs[0][0] is node 0, which is not a scalar input")
    assert len(r.check()) == len(r.cases)  # each refused, by its message, in a child


def test_single_integer_corruptions_of_the_issue(tapes):
    """The issue's experiment: each integer of a pickled tape (its core
    tape's columns and fields, its records, its state; its gradient tape
    aside) set to -1, n, 2**31 - 1 and 10**9, loaded and used in a child."""
    obj, _, _, n = tapes["loop"]
    own_records = len(obj._tape.exts)
    jobs = [["loop", "int-site:%d:%d" % (k, value), 0]
            for k, (kind, index, _) in enumerate(hostile.sites(obj))
            if index == 0 or (kind == "ext" and index < own_records)
            for value in (-1, n, 2 ** 31 - 1, 10 ** 9)]
    results = hostile.run_jobs(jobs)
    outcomes = collections.Counter(result[0] for result in results)
    bad = [hostile.describe(job, result) for job, result in zip(jobs, results)
           if result[0] not in VALID]
    assert not bad, "\n".join(bad[:20])
    assert len(jobs) >= 400 and outcomes["refused"] > 0.9 * len(jobs), outcomes


def test_ext_shape_claim_allocates_nothing(tapes):
    """A record claiming a shape its value does not have is refused before
    anything allocates by the shape (before: 2.3 GB for (10**8, 3))."""
    obj, r = tapes["guards"][0], Refusals()
    for node, shape, message in ((0, (10 ** 8, 3), "value has shape (5,)"),
                                 (7, (10 ** 8, 5), "value has shape (5,)"),
                                 (0, (2 ** 62, 2 ** 62), "value has shape (5,)"),
                                 (0, (-5,), "not a shape")):
        r.add(dumps(obj, setting("ext", _ext_index(obj._tape, node), EXT["shape"], shape)),
              at=AT["guards"], match=message)
    assert len(r.check()) == len(r.cases)  # each refused, by its message, in a child


def test_float32_tape_spliced_into_float64_tape():
    """Before: the C tape and records of a float32 recording under a float64
    recording's state gave zero gradients."""
    x64 = numpy.linspace(0.1, 1.0, 4)
    x32 = x64.astype(numpy.float32)
    t64, t32 = fd.record(hostile.np.sum, x64), fd.record(hostile.np.sum, x32)
    r = Refusals()
    r.add(dumps(t64, setting("state", 0, "tape", t32._tape)), at=(x64, x64),
          match="structure[0][0] records shape (4,) and float64, but input node 0 holds shape "
                "(4,) and float32")
    r.add(dumps(t32, setting("state", 0, "tape", t64._tape)), at=(x32, x32),
          match="records shape (4,) and float32, but input node 0 holds shape (4,) and float64")
    # a record whose value is float32 (or float16) while its dtype says float64
    for value in (x32, x64.astype(numpy.float16)):
        r.add(dumps(t64, setting("ext", 0, EXT["value"], value)), at=(x64, x64),
              match="exts[0] (node 0).dtype is float64, but the value is")
    # another recording's gradient tape
    other = fd.record(hostile.rosen_loop, x64[:3])
    other.hvp(x64[:3], x64[:3])
    main = fd.record(hostile.rosen_loop, x64)
    main.hvp(x64, x64)
    r.add(dumps(main, setting("state", 0, "grad_tape", other._grad_tape)), at=(x64, x64),
          match="grad_tape was recorded with arguments")
    assert len(r.check()) == len(r.cases)  # each refused, by its message, in a child


def test_long_fused_program_is_refused(tapes):
    """Before: a loaded fused program of 300,000 instructions took 32 s per
    gradient; a program is at most the recording's own 128 instructions."""
    obj, r = tapes["fused"][0], Refusals()
    assert obj[0].ext(4).primitive.name == "fused"
    index = _ext_index(obj[0], 4)
    add_constant = _tape.FUSED_OPCODES["add_constant"]
    kwargs = obj[0].ext(4).kwargs

    def program(change):
        changed = dict(kwargs, program=change(kwargs["program"]))
        return setting("ext", index, EXT["kwargs"], changed)

    def lengthen(code):
        code, last = list(code), 3 + len(code) - 1
        for _ in range(300_000):
            code.append((add_constant, last, None, 0.0))
            last += 1
        return tuple(code)
    r.add(dumps(obj, program(lengthen)), at=AT["fused"],
          match="kwargs['program'] is not a tuple of 1 to 128 instructions")
    # programs fa_fused_check refuses, and malformed instructions
    for change, message in (
            (lambda p: ((p[0][0], 7, None, 0.0),) + p[1:], "is invalid"),  # a register unset
            (lambda p: p + ((add_constant, 1, None, 0.0),), "is invalid"),  # a result unread
            (lambda p: ((p[0][0], 1, None, "c"),) + p[1:], "not an instruction"),
            (lambda p: (), "not a tuple of 1 to 128")):
        r.add(dumps(obj, program(change)), at=AT["fused"], match=message)
    # the leaves: float64, of one shape, the parents' values
    leaves = list(obj[0].ext(4).args)
    leaves[1] = leaves[1].astype(numpy.float32)
    r.add(dumps(obj, setting("ext", index, EXT["args"], tuple(leaves))), at=AT["fused"],
          match="args[1] is an array of 63 elements of float32, but node 2 is an array of shape "
                "(63,) and float64")
    started = time.perf_counter()
    r.check(memory=200 * MB)
    assert time.perf_counter() - started < 30


# -- more of what the loaders check ----------------------------------------------------

def test_digest_refuses_a_changed_recorded_tape(tapes):
    obj, point, _, _ = tapes["loop"]
    constants = obj._tape.__reduce__()[1][TAPE["constants"]]
    changed = numpy.frombuffer(constants, numpy.float64).copy()
    changed[list(changed).index(100.0)] = 100.5  # valid data, another function
    edit = setting("tape", 0, TAPE["constants"], changed.tobytes())
    # written so (its digest made anew), the tape loads and computes that function
    assert pickle.loads(dumps(obj, edit))(point) != obj(point)
    # changed after it was written, it is refused
    with pytest.raises(ValueError, match="does not match its digest"):
        pickle.loads(dumps(obj, edit, stale=True))
    data = pickle.dumps(obj)
    position = data.index(constants)
    with pytest.raises(ValueError, match="does not match its digest"):
        pickle.loads(data[:position] + bytes([data[position] ^ 1]) + data[position + 1:])


def test_recorded_state_fields_are_checked(tapes):
    obj = tapes["tree"][0]
    state = obj.__getstate__()
    treedef, specs = state["structure"][0]
    cases = [
        ({**state, "extra": 1}, "the state has the fields"),
        ({**state, "tape": "tape"}, "tape is a value of type str"),
        ({**state, "retape": 1}, "retape is 1, not a bool"),
        ({**state, "fun": 3.0}, "fun is a value of type float, not a function"),
        ({**state, "structure": []}, "structure is not a list of arguments"),
        ({**state, "inputs": [[0, 1, 2, 3]]}, "inputs[0] is not a list of 5 nodes"),
        ({**state, "outputs": (state["outputs"][0], [("plain", "text")])}, "outputs[0] is"),
        ({**state, "outputs": (fd.tree.TreeDef(int, ()), state["outputs"][1])},
         "outputs holds a node of kind <class 'int'>"),
        ({**state, "structure": [(treedef, specs[:4])]}, "structure[0] has 4 leaf specs for 5"),
        ({**state, "structure": [(treedef, [s[:3] + (os.system,) for s in specs])]},
         "not a leaf spec"),
    ]
    for changed, message in cases:
        with pytest.raises(ValueError) as raised:
            pickle.loads(dumps(obj, edit_of("state", 0, lambda _, changed=changed: changed)))
        assert str(raised.value).startswith("a pickled fastad.Tape is corrupt")
        assert message in str(raised.value), (message, str(raised.value))


def test_guard_sources_and_flags_are_checked(tapes):
    obj = tapes["guards"][0]
    for sources, message in (({1: "x.py:1"}, "guard_sources names int 1, not a comparison node"),
                             ({3: 5}, "guard_sources[3] is int 5, not text"),
                             ([3], "guard_sources is list, not a dict")):
        with pytest.raises(ValueError) as raised:
            pickle.loads(dumps(obj, setting("tape", 0, TAPE["guard_sources"], sources)))
        assert message in str(raised.value)
    with pytest.raises(ValueError, match="active is str 'yes', not a bool"):
        pickle.loads(dumps(obj, setting("tape", 0, TAPE["active"], "yes")))


def test_columns_are_checked(tapes):
    obj = tapes["guards"][0]
    tape = obj._tape
    assert [tape.node(i)[0] for i in (3, 6, 7, 14)] == ["gt", "greater", "multiply", "multiply"]

    def column(field, node, value):
        array = numpy.frombuffer(tape.__reduce__()[1][TAPE[field]],
                                 numpy.uint8 if field == "opcode" else numpy.int32).copy()
        array[node] = value
        return dumps(obj, setting("tape", 0, TAPE[field], array.tobytes()))
    for data, message in (
            (column("operand0", 4, 3),
             "corrupt at node 4: operand0[4] is node 3, which holds a comparison's outcome"),
            (column("operand0", 16, 6),
             "corrupt at node 16: operand0[16] is node 6, which holds a guard"),
            (column("operand1", 19, 14), "operand1[19] is node 14, which holds an array"),
            (column("operand1", 4, 99), "operand1[4] is 99, not one of the"),
            (column("opcode", 3, 250), "corrupt at node 3: opcode[3] is 250, not an opcode"),
            (column("opcode", 6, 0), "operand0[6] or operand1[6] of an input is"),
            (column("operand0", 7, 5),
             "operand0[7] is 5 (operand1 0): node 7 is the record exts[2]")):
        with pytest.raises(ValueError) as raised:
            pickle.loads(data)
        assert message in str(raised.value), str(raised.value)


def test_shared_records_are_copied(tapes):
    """Two tapes pickled together whose records are the same objects load
    as two tapes with records of their own: a sweep of one touches nothing
    of the other."""
    obj, point, direction, _ = tapes["fused"]
    twin = hostile.fused_tape()
    a, b = pickle.loads(dumps((obj, twin), setting("tape", 1, TAPE["exts"], obj[0].exts)))
    assert not {id(e) for e in a[0].exts} & {id(e) for e in b[0].exts}
    results = hostile.use(a, point, direction)
    assert not hostile.same(hostile.use(b, point * 0.5, direction), results)
    assert hostile.same(hostile.use(a, point, direction), results)


def test_fused_slice_replayed_to_another_length():
    """A slice's bound changed (valid data, which no check can tell from
    the original) replays to another shape than its record's: the fused
    reverse step must not then write outside an adjoint (before: a heap
    overflow, glibc's abort)."""
    previous = _tape.set_fusion_threshold(0)
    try:
        tape = _tape.Tape()
        x = tape.array_leaf(numpy.linspace(0.1, 1.0, 4096))
        z = x[0:1024][512:1536]
        out = hostile.np.sum(z * z)
        tape.close()
    finally:
        _tape.set_fusion_threshold(previous)
    args = tape.ext(1).args
    data = dumps((tape, x, out), setting("ext", 1, EXT["args"], (args[0], slice(0, 2048, None))))
    code, outcomes, err = load_in_child([(data, numpy.linspace(0.1, 1.0, 4096), numpy.ones(4096))])
    assert code == 0, err[-3000:]
    assert outcomes[0]["error"] == "ValueError", outcomes


def test_loaded_records_keep_numpy_dtypes(tapes):
    """Unpickled dtypes are copies; the loader gives records NumPy's own
    (the sweeps' C paths test dtypes by identity)."""
    tape = pickle.loads(pickle.dumps(tapes["guards"][0]))._tape
    assert all(tape.ext(i).dtype is numpy.dtype(numpy.float64) for i in range(len(tape))
               if tape.ext(i) is not None and not tape.ext(i).guard)


# -- the fuzz ----------------------------------------------------------------------------

def _long_profile():
    if os.environ.get("FASTAD_FUZZ_LONG") == "1":
        return True
    try:
        from hypothesis import settings
        return settings.default.max_examples >= 10_000
    except ImportError:
        return False


#: outcomes allowed where the checks stand alone (a recorded tape's digest made
#: anew, or a core tape, which has none): refused, another clean exception, the
#: same results, or other results the tape's own central differences confirm or
#: cannot check (a corruption into another valid tape: a function of another,
#: which may ask for memory it does not get, in the capped child)
VALID = {"refused", "load-error", "use-error", "same", "different", "unverified",
         "pickle-memory", "use-memory"}
#: outcomes allowed where a recorded tape's digest stands: the corruption is
#: refused, or changes nothing the tape reads
STREAM = {"refused", "load-error", "same", "pickle-memory"}


def test_fuzz_children_that_crash_or_hang_name_their_corruption():
    jobs = [["loop", mode, 0] for mode in ("selftest-ok", "selftest-crash", "selftest-ok",
                                           "selftest-hang", "selftest-ok")]
    results = hostile.run_jobs(jobs, timeout=3)
    assert [result[0] for result in results] == ["same", "signal 11", "same", "hang", "same"]


def test_fuzz_of_corrupted_pickles():
    long = _long_profile()
    per_kind = 720 if long else 28
    rng = random.Random(20261204 if long else 7)
    jobs = []
    for name in hostile.TAPES:
        modes = ("int", "byte") if name == "fused" else ("int", "int-stream", "byte",
                                                          "byte-stream")
        for mode in modes:
            jobs += [[name, mode, rng.randrange(10 ** 9)] for _ in range(per_kind)]
    started = time.perf_counter()
    results = hostile.run_jobs(jobs)
    elapsed = time.perf_counter() - started
    table = collections.Counter((job[1], result[0]) for job, result in zip(jobs, results))
    summary = "%d corruptions in %.1f s: %s" % (len(jobs), elapsed, dict(sorted(table.items())))
    print(summary)
    bad = [hostile.describe(job, result) for job, result in zip(jobs, results)
           if result[0] not in (STREAM if job[1].endswith("-stream") else VALID)]
    assert not bad, summary + "\n" + "\n".join(bad[:30])
    assert not long or len(jobs) >= 10_000
