"""Pytrees: nested tuples, lists and dicts of floats and arrays.

Arguments and results of every operator may be pytrees; derivatives come
back in the same structure.  Dicts keep their key order.  None is an empty
subtree.  Subclasses keep their type: namedtuples their fields, a
collections.defaultdict its default_factory (part of the structure, as in
JAX).
"""
import collections
from itertools import islice

import numpy as np

from . import _tape

#: leaf types besides Python's numbers (see _PLAIN_LEAVES)
_LEAF_TYPES = frozenset((np.ndarray, np.float64, _tape.Scalar, _tape.Array))


class TreeDef:
    """The structure of a pytree, without its leaves."""
    __slots__ = ("kind", "children", "keys", "aux")

    def __init__(self, kind, children=(), keys=None, aux=None):
        self.kind = kind          # "leaf", "none", tuple, list, dict (the type)
        self.children = children
        self.keys = keys
        self.aux = aux            # a defaultdict's default_factory

    def __eq__(self, other):
        return (isinstance(other, TreeDef) and self.kind == other.kind
                and self.keys == other.keys and self.aux == other.aux
                and self.children == other.children)

    def __hash__(self):
        return hash((str(self.kind), self.keys, self.children))

    def __setstate__(self, state):
        self.aux = None  # (structures pickled before aux existed)
        slots = state[1] if isinstance(state, tuple) else state
        for name, value in (slots or {}).items():
            setattr(self, name, value)

    def __repr__(self):
        return self._repr(False)

    def _repr(self, qualified):
        """The structure with the type and field names of every node:
        `*` a leaf, `(*, *)` a tuple, `P(a=*, b=*)` a namedtuple P."""
        kind = self.kind
        if kind == "leaf":
            return "*"
        if kind == "none":
            return "None"
        inner = [c._repr(qualified) for c in self.children]
        if self.keys is not None:
            body = "{%s}" % ", ".join("%r: %s" % (k, c) for k, c in zip(self.keys, inner))
            if kind is dict:
                return body
            if issubclass(kind, collections.defaultdict):
                factory = getattr(self.aux, "__qualname__", None) or repr(self.aux)
                return "%s(%s, %s)" % (_type_name(kind, qualified), factory, body)
            return "%s(%s)" % (_type_name(kind, qualified), body)
        if kind is list:
            return "[%s]" % ", ".join(inner)
        if kind is tuple:
            return "(%s,)" % inner[0] if len(inner) == 1 else "(%s)" % ", ".join(inner)
        fields = getattr(kind, "_fields", None)
        if fields is not None and len(fields) == len(inner):
            inner = ["%s=%s" % (f, c) for f, c in zip(fields, inner)]
        brackets = "[%s]" if issubclass(kind, list) else "(%s)"
        return _type_name(kind, qualified) + brackets % ", ".join(inner)


def _type_name(kind, qualified):
    name = getattr(kind, "__qualname__", kind.__name__)
    return "%s.%s" % (kind.__module__, name) if qualified else name


def describe_structures(a, b):
    """repr of two tree structures that differ, distinguishably: with the
    types' modules where the short forms would read the same."""
    left, right = repr(a), repr(b)
    if left == right and isinstance(a, TreeDef) and isinstance(b, TreeDef):
        left, right = a._repr(True), b._repr(True)
    return left, right


LEAF = TreeDef("leaf")
NONE = TreeDef("none")


def flatten(tree):
    """Return `(leaves, treedef)`: the leaves of `tree` in order (dicts in
    their key order) and its structure, which `unflatten` takes back.

    >>> leaves, treedef = fastad.extend.flatten({"w": [1.0, 2.0], "b": 3.0})
    >>> leaves, treedef
    ([1.0, 2.0, 3.0], {'w': [*, *], 'b': *})
    """
    leaves = []
    return leaves, _flatten(tree, leaves)


#: the types a flat list or tuple of leaves holds (the common argument: a
#: list of floats or traced scalars), flattened without recursion
_PLAIN_LEAVES = frozenset((float, int, complex))
#: n -> (LEAF,) * n, shared by the flat structures, so that unflatten knows
#: them by identity
_FLAT_CHILDREN = {}
_FLAT = {}


def _flat(kind, n):
    """The structure of a flat `kind` (list or tuple) of n leaves, shared
    up to _FLAT_SHARED leaves."""
    treedef = _FLAT.get((kind, n))
    if treedef is None:
        if n > _FLAT_SHARED:
            return TreeDef(kind, (LEAF,) * n)
        children = _FLAT_CHILDREN.setdefault(n, (LEAF,) * n)
        treedef = _FLAT[(kind, n)] = TreeDef(kind, children)
    return treedef


_FLAT_SHARED = 256


def _flatten(tree, leaves):
    t = type(tree)
    if t is tuple or t is list:
        for c in tree:
            if type(c) not in _PLAIN_LEAVES and type(c) not in _LEAF_TYPES:
                return TreeDef(t, tuple(_flatten(c, leaves) for c in tree))
        leaves.extend(tree)
        return _flat(t, len(tree))
    if t is dict:
        keys = tuple(tree)
        return TreeDef(dict, tuple(_flatten(tree[k], leaves) for k in keys), keys)
    if tree is None:
        return NONE
    if isinstance(tree, (tuple, list, dict)):
        # namedtuples and other subclasses: keep the type
        if isinstance(tree, dict):
            keys = tuple(tree)
            return TreeDef(t, tuple(_flatten(tree[k], leaves) for k in keys), keys,
                           getattr(tree, "default_factory", None))
        return TreeDef(t, tuple(_flatten(c, leaves) for c in tree))
    leaves.append(tree)
    return LEAF


def unflatten(treedef, leaves):
    """Rebuild a pytree of structure `treedef` from `leaves` (the inverse of
    `flatten`).

    >>> leaves, treedef = fastad.extend.flatten({"w": [1.0, 2.0], "b": 3.0})
    >>> fastad.extend.unflatten(treedef, [10.0, 20.0, 30.0])
    {'w': [10.0, 20.0], 'b': 30.0}
    """
    it = iter(leaves)
    try:
        out = _unflatten(treedef, it)
    except StopIteration:
        raise ValueError("too few leaves (%d) for tree structure %r"
                         % (len(leaves), treedef)) from None
    for _ in it:
        raise ValueError("too many leaves for tree structure %r" % (treedef,))
    return out


def _unflatten(treedef, it):
    kind = treedef.kind
    if kind == "leaf":
        return next(it)
    if kind == "none":
        return None
    children = treedef.children
    if (kind is list or kind is tuple) and children is _FLAT_CHILDREN.get(len(children)):
        out = kind(islice(it, len(children)))
        if len(out) < len(children):
            raise StopIteration
        return out
    children = [_unflatten(c, it) for c in treedef.children]
    if treedef.keys is not None:
        if kind is dict:
            return dict(zip(treedef.keys, children))
        if issubclass(kind, collections.defaultdict):
            return kind(treedef.aux, zip(treedef.keys, children))
        # (a mapping, not pairs: Counter counts the items of an iterable)
        return kind(dict(zip(treedef.keys, children)))
    if kind is tuple or kind is list:
        return kind(children)
    if hasattr(kind, "_fields"):  # namedtuple
        return kind(*children)
    return kind(children)


def tree_map(fun, tree, *rest):
    """Apply `fun` to the leaves of `tree` (and the matching parts of `rest`,
    pytrees of the same structure, or of which `tree` is a prefix: a leaf of
    `tree` takes the whole subtree there; dict entries match by key); return
    a pytree of `tree`'s structure.  A mismatched structure is a ValueError.

    >>> fastad.tree_map(lambda x: 2.0 * x, {"a": 1.0, "b": (2.0, 3.0)})
    {'a': 2.0, 'b': (4.0, 6.0)}
    >>> fastad.tree_map(lambda p, g: p - 0.5 * g, [1.0, 2.0], [2.0, 2.0])
    [0.0, 1.0]
    """
    leaves, treedef = flatten(tree)
    others = []
    for position, other in enumerate(rest, 2):
        matched = []
        _match(treedef, other, matched, position)
        others.append(matched)
    return unflatten(treedef, [fun(*xs) for xs in zip(leaves, *others)])


def _match(treedef, other, matched, position):
    """Append to `matched` the parts of `other` at the leaves of `treedef`
    (whole subtrees where `treedef` has a leaf: `tree` may be a prefix, as
    in JAX); dict entries are matched by key."""
    kind = treedef.kind
    if kind == "leaf":
        matched.append(other)
        return
    if kind == "none" and other is None:
        return
    if kind != "none" and type(other) is kind:
        if treedef.keys is not None:
            if set(other) == set(treedef.keys) and len(other) == len(treedef.keys):
                for key, child in zip(treedef.keys, treedef.children):
                    _match(child, other[key], matched, position)
                return
        elif len(other) == len(treedef.children):
            for value, child in zip(other, treedef.children):
                _match(child, value, matched, position)
            return
    mine, theirs = describe_structures(treedef, flatten(other)[1])
    raise ValueError("tree_map: argument %d does not have the structure of the first tree: "
                     "%s where the first has %s" % (position, theirs, mine))
