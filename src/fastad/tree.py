"""Pytrees: nested tuples, lists and dicts of floats and arrays.

Arguments and results of every operator may be pytrees; derivatives come
back in the same structure.  Dicts keep their key order.  None is an empty
subtree.
"""


class TreeDef:
    """The structure of a pytree, without its leaves."""
    __slots__ = ("kind", "children", "keys")

    def __init__(self, kind, children=(), keys=None):
        self.kind = kind          # "leaf", "none", tuple, list, dict (the type)
        self.children = children
        self.keys = keys

    def __eq__(self, other):
        return (isinstance(other, TreeDef) and self.kind == other.kind
                and self.keys == other.keys and self.children == other.children)

    def __hash__(self):
        return hash((str(self.kind), self.keys, self.children))

    def __repr__(self):
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        if self.kind is dict:
            return "{%s}" % ", ".join("%r: %r" % kv for kv in zip(self.keys, self.children))
        inner = ", ".join(map(repr, self.children))
        return "[%s]" % inner if self.kind is list else "(%s)" % inner


LEAF = TreeDef("leaf")
NONE = TreeDef("none")


def flatten(tree):
    """Return (leaves, treedef)."""
    leaves = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree, leaves):
    t = type(tree)
    if t is tuple or t is list:
        return TreeDef(t, tuple(_flatten(c, leaves) for c in tree))
    if t is dict:
        keys = tuple(tree)
        return TreeDef(dict, tuple(_flatten(tree[k], leaves) for k in keys), keys)
    if tree is None:
        return NONE
    if isinstance(tree, (tuple, list, dict)):
        # namedtuples and other subclasses: keep the type
        if isinstance(tree, dict):
            keys = tuple(tree)
            return TreeDef(t, tuple(_flatten(tree[k], leaves) for k in keys), keys)
        return TreeDef(t, tuple(_flatten(c, leaves) for c in tree))
    leaves.append(tree)
    return LEAF


def unflatten(treedef, leaves):
    """Rebuild a pytree of structure `treedef` from `leaves`."""
    it = iter(leaves)
    out = _unflatten(treedef, it)
    for _ in it:
        raise ValueError("too many leaves for tree structure %r" % (treedef,))
    return out


def _unflatten(treedef, it):
    kind = treedef.kind
    if kind == "leaf":
        return next(it)
    if kind == "none":
        return None
    children = [_unflatten(c, it) for c in treedef.children]
    if treedef.keys is not None:
        return kind(zip(treedef.keys, children))
    if kind is tuple or kind is list:
        return kind(children)
    if hasattr(kind, "_fields"):  # namedtuple
        return kind(*children)
    return kind(children)


def tree_map(fun, tree, *rest):
    """Apply `fun` to the leaves of `tree` (and the matching leaves of `rest`)."""
    leaves, treedef = flatten(tree)
    others = [flatten(r)[0] for r in rest]
    return unflatten(treedef, [fun(*xs) for xs in zip(leaves, *others)])
