"""Products: dot, matmul, tensordot, inner, outer, vdot, einsum; and kron,
cross, vecdot, matvec and vecmat, written with them and the other primitives.

Matrix product Z = X W backward: X_bar = Z_bar W^T, W_bar = X^T Z_bar; every
rule here is that identity for the product's contraction pattern, written
with fastad functions so that it can be differentiated again.
"""
import functools
import math
import operator
import weakref

import numpy as np

from . import defprim, numpy_versions
from .elementwise import conjugate, multiply, subtract
from .reductions import sum
from .shape import (reshape, ravel, swapaxes, transpose, expand_dims, getitem, broadcast_to,
                    moveaxis, stack, normalize_axis_index)
from .tracing import is_traced, as_traceable


def _normalize_axes(axes, ndim_a, ndim_b):
    if isinstance(axes, (int, np.integer)):
        return list(range(ndim_a - axes, ndim_a)), list(range(axes))
    axes_a, axes_b = axes
    axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
    axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
    return ([normalize_axis_index(a, ndim_a) for a in axes_a],
            [normalize_axis_index(b, ndim_b) for b in axes_b])


def _tensordot_vjp_a(g, a, b, axes_a, axes_b):
    ndim_a, ndim_b = np.ndim(a), np.ndim(b)
    free_a = [i for i in range(ndim_a) if i not in axes_a]
    free_b = [i for i in range(ndim_b) if i not in axes_b]
    n_free_a = len(free_a)
    out = tensordot(g, b, (list(range(n_free_a, n_free_a + len(free_b))), free_b))
    # out's axes: free axes of a, then a's contracted axes in b's order
    order = free_a + [axes_a[axes_b.index(k)] for k in sorted(axes_b)]
    return transpose(out, tuple(np.argsort(order)))


def _tensordot_vjp_b(g, a, b, axes_a, axes_b):
    ndim_a, ndim_b = np.ndim(a), np.ndim(b)
    free_a = [i for i in range(ndim_a) if i not in axes_a]
    free_b = [i for i in range(ndim_b) if i not in axes_b]
    out = tensordot(a, g, (free_a, list(range(len(free_a)))))
    # out's axes: b's contracted axes in a's order, then free axes of b
    order = [axes_b[axes_a.index(k)] for k in sorted(axes_a)] + free_b
    return transpose(out, tuple(np.argsort(order)))


def _tensordot_fun(a, b, axes=2):
    return np.tensordot(a, b, axes)


tensordot = defprim(
    "tensordot", _tensordot_fun, saves=[(1,), (0,)],
    vjps=[lambda g, ans, a, b, axes=2: _tensordot_vjp_a(g, a, b, *_normalize_axes(axes, np.ndim(a), np.ndim(b))),
          lambda g, ans, a, b, axes=2: _tensordot_vjp_b(g, a, b, *_normalize_axes(axes, np.ndim(a), np.ndim(b)))],
    jvps=[lambda t, ans, a, b, axes=2: tensordot(t, b, axes),
          lambda t, ans, a, b, axes=2: tensordot(a, t, axes)])


def _dot_axes(a, b):
    """np.dot contracts a's last axis with b's second-to-last (or only) axis."""
    return [np.ndim(a) - 1], [np.ndim(b) - 2 if np.ndim(b) >= 2 else 0]


def _dot_vjp_a(g, ans, a, b):
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return multiply(g, b)
    if na == 2 and nb == 2:
        return dot(g, transpose(b))
    if na == 1 and nb == 1:
        return multiply(g, b)
    if na == 2 and nb == 1:
        return outer(g, b)
    if na == 1 and nb == 2:
        return dot(b, g)
    return _tensordot_vjp_a(g, a, b, *_dot_axes(a, b))


def _dot_vjp_b(g, ans, a, b):
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return multiply(g, a)
    if na == 2 and nb == 2:
        return dot(transpose(a), g)
    if na == 1 and nb == 1:
        return multiply(g, a)
    if na == 2 and nb == 1:
        return dot(g, a)
    if na == 1 and nb == 2:
        return outer(a, g)
    return _tensordot_vjp_b(g, a, b, *_dot_axes(a, b))


dot = defprim("dot", np.dot, saves=[(1,), (0,)], vjps=[_dot_vjp_a, _dot_vjp_b],
              jvps=[lambda t, ans, a, b: dot(t, b), lambda t, ans, a, b: dot(a, t)])


def _matmul_vjp_a(g, ans, a, b):
    if type(g) is np.ndarray and type(b) is np.ndarray and type(a) is np.ndarray:
        # numerically: the expressions below without their dispatch
        if b.ndim >= 2 and a.ndim >= 2:
            return np.matmul(g, b.swapaxes(-1, -2))
        if b.ndim == 1 and a.ndim >= 2:
            return np.multiply(np.expand_dims(g, -1), b)
    if np.ndim(a) == 1 and np.ndim(b) == 1:
        return multiply(g, b)
    if np.ndim(b) == 1:
        # (..., n) @ (n,) -> (...): a_bar = g[..., None] * b
        return multiply(expand_dims(g, -1), b)
    if np.ndim(a) == 1:
        # (n,) @ (..., n, k) -> (..., k): a_bar = b @ g (summed over batch)
        return getitem(matmul(b, expand_dims(g, -1)), (Ellipsis, 0))
    return matmul(g, swapaxes(b, -1, -2))


def _matmul_vjp_b(g, ans, a, b):
    if type(g) is np.ndarray and type(a) is np.ndarray and type(b) is np.ndarray:
        # numerically: the expressions below without their dispatch
        if a.ndim >= 2 and b.ndim >= 2:
            return np.matmul(a.swapaxes(-1, -2), g)
        if b.ndim == 1 and a.ndim == 2:
            return np.matmul(a.T, g)  # (a matrix times a vector: BLAS's gemv)
        if b.ndim == 1 and a.ndim > 2:
            return np.matmul(a.swapaxes(-1, -2), np.expand_dims(g, -1))[..., 0]
    elif type(a) is np.ndarray and a.ndim == 2 and np.ndim(b) == 1:
        return matmul(a.T, g)  # (a traced cotangent: one recorded product)
    if np.ndim(a) == 1 and np.ndim(b) == 1:
        return multiply(g, a)
    if np.ndim(a) == 1:
        # (n,) @ (..., n, k): b_bar = a[:, None] * g[..., None, :]
        return multiply(expand_dims(a, -1), expand_dims(g, -2))
    if np.ndim(b) == 1 and np.ndim(a) == 2:
        return matmul(swapaxes(a, -1, -2), g)  # (m, n) @ (n,) -> (m,): b_bar = a^T g
    if np.ndim(b) == 1:
        # (..., m, n) @ (n,) -> (..., m): b_bar = sum over the batch of a^T g
        return getitem(matmul(swapaxes(a, -1, -2), expand_dims(g, -1)), (Ellipsis, 0))
    return matmul(swapaxes(a, -1, -2), g)


matmul = defprim("matmul", np.matmul, saves=[(1,), (0,)], vjps=[_matmul_vjp_a, _matmul_vjp_b],
                 jvps=[lambda t, ans, a, b: matmul(t, b), lambda t, ans, a, b: matmul(a, t)])


def _outer_fun(a, b):
    return np.outer(a, b)


outer = defprim(
    "outer", _outer_fun, saves=[(1,), (0,)],
    vjps=[lambda g, ans, a, b: reshape(dot(g, ravel(b)), np.shape(a)),
          lambda g, ans, a, b: reshape(dot(ravel(a), g), np.shape(b))],
    jvps=[lambda t, ans, a, b: outer(t, b), lambda t, ans, a, b: outer(a, t)])


def _inner_vjp_a(g, ans, a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return multiply(g, b)
    return _tensordot_vjp_a(g, a, b, [np.ndim(a) - 1], [np.ndim(b) - 1])


def _inner_vjp_b(g, ans, a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return multiply(g, a)
    return _tensordot_vjp_b(g, a, b, [np.ndim(a) - 1], [np.ndim(b) - 1])


inner = defprim("inner", np.inner, saves=[(1,), (0,)], vjps=[_inner_vjp_a, _inner_vjp_b],
                jvps=[lambda t, ans, a, b: inner(t, b), lambda t, ans, a, b: inner(a, t)])

# vdot(a, b) = sum(conj(a) b): conjugate-linear in a (a conjugate is the
# identity on real values)
vdot = defprim(
    "vdot", np.vdot,
    vjps=[lambda g, ans, a, b: conjugate(multiply(g, reshape(b, np.shape(a)))),
          lambda g, ans, a, b: multiply(g, conjugate(reshape(a, np.shape(b))))],
    jvps=[lambda t, ans, a, b: vdot(t, b), lambda t, ans, a, b: vdot(a, t)])


# -- batched JVPs: tangents with a leading axis of directions, one BLAS call --
# (vectors and matrices; operands with batch axes take one call per direction)

def _matrix_case(a, b):
    return 0 < np.ndim(a) <= 2 and 0 < np.ndim(b) <= 2


def _product_batched_a(product):
    def rule(t, ans, a, b):
        if _matrix_case(a, b):
            return np.matmul(t, b)                          # (k, [m,] n) @ (n, [p])
        return np.stack([product(tj, b) for tj in t])
    return rule


# The identity block that seeds a forward Jacobian sweep: A @ I is A itself,
# so the first product it meets costs a copy instead of a matrix product.
_identity = None


def mark_identity(seed):
    global _identity
    _identity = weakref.ref(seed)


def _is_identity(t):
    return _identity is not None and _identity() is t


def _product_batched_b(product):
    def rule(t, ans, a, b):
        if np.ndim(b) == 1 and np.ndim(a) == 2 and _is_identity(t):
            return np.ascontiguousarray(np.transpose(a))        # I @ A^T, one row per direction
        if not _matrix_case(a, b):
            return np.stack([product(a, tj) for tj in t])
        if np.ndim(b) == 1:
            if np.ndim(a) == 1:
                return np.matmul(t, a)                      # (k, n) @ (n,)
            return np.matmul(t, a.T)                        # (k, n) @ (n, m)
        return np.matmul(a, t)                              # ([m,] n) @ (k, n, p)
    return rule


matmul.jvps_batched = (_product_batched_a(np.matmul), _product_batched_b(np.matmul))
dot.jvps_batched = (_product_batched_a(np.dot), _product_batched_b(np.dot))


# -- einsum ---------------------------------------------------------------------

def _normalize_einsum(subscripts, shapes):
    """Explicit subscripts ('ab,bc->ac') with ellipses spelled out as letters."""
    expanded, output = _normalized(subscripts, tuple(tuple(shape) for shape in shapes))
    return list(expanded), output


@functools.lru_cache(maxsize=1024)
def _normalized(subscripts, shapes):
    """_normalize_einsum, worked out once per subscripts and shapes."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        inputs, output = subscripts.split("->")
    else:
        inputs, output = subscripts, None
    inputs = inputs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError("einsum: %d operands for %d subscripts" % (len(shapes), len(inputs)))
    used = set("".join(inputs) + (output or ""))
    pool = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    n_ellipsis = max([len(shape) - len(sub.replace("...", "")) for sub, shape in zip(inputs, shapes)
                      if "..." in sub] or [0])
    letters = "".join(pool[:n_ellipsis])
    expanded = []
    for sub, shape in zip(inputs, shapes):
        if "..." in sub:
            k = len(shape) - len(sub.replace("...", ""))
            sub = sub.replace("...", letters[n_ellipsis - k:] if k else "")
        expanded.append(sub)
    if output is None:
        counts = {}
        for c in "".join(expanded):
            counts[c] = counts.get(c, 0) + 1
        output = letters + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in letters))
    else:
        output = output.replace("...", letters)
    return tuple(expanded), output


#: two-operand contractions with at least this many multiply-adds run as a
#: (batched) matrix product (BLAS) instead of numpy.einsum's own loop
_BLAS_MIN_WORK = 4096


def _einsum_fun(subscripts, *operands):
    if len(operands) == 2:
        product = _as_matmul(subscripts, *operands)
        if product is not None:
            return product
    return np.einsum(subscripts, *operands)


def _as_matmul(subscripts, a, b):
    """The two-operand einsum as one numpy.matmul of transposed, reshaped
    operands (JAX's dot_general: batch, free and contracted indices), or None
    where that does not apply (a repeated index, an index summed in one
    operand alone, broadcasting, non-float dtypes, little work).  The sums
    are BLAS's, in its order: equal to numpy.einsum's to rounding."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return None
    if a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        return None
    lowering = _matmul_lowering(subscripts, a.shape, b.shape)
    if lowering is None:
        return None
    order_a, lhs_shape, order_b, rhs_shape, result_shape, order = lowering
    result = np.matmul(a.transpose(order_a).reshape(lhs_shape),
                       b.transpose(order_b).reshape(rhs_shape)).reshape(result_shape)
    return result.transpose(order)


@functools.lru_cache(maxsize=1024)
def _matmul_lowering(subscripts, a_shape, b_shape):
    """How _as_matmul transposes and reshapes operands of these shapes, and
    its result (worked out once per subscripts and shapes), or None."""
    (sa, sb), out = _normalized(subscripts, (a_shape, b_shape))
    if (len(set(sa)) != len(sa) or len(set(sb)) != len(sb) or len(set(out)) != len(out)
            or len(sa) != len(a_shape) or len(sb) != len(b_shape)):
        return None
    size = {}
    for sub, shape in ((sa, a_shape), (sb, b_shape)):
        for c, n in zip(sub, shape):
            if size.setdefault(c, n) != n:
                return None  # (broadcasting a length-1 axis: einsum's loop)
    if any(c not in sa and c not in sb for c in out):
        return None
    batch = [c for c in out if c in sa and c in sb]
    free_a = [c for c in out if c in sa and c not in sb]
    free_b = [c for c in out if c in sb and c not in sa]
    contracted = [c for c in sa if c in sb and c not in out]
    if any(c not in out and c not in sb for c in sa) or any(c not in out and c not in sa for c in sb):
        return None  # (an index summed in one operand alone)
    B, M, N, K = (math.prod([size[c] for c in letters])
                  for letters in (batch, free_a, free_b, contracted))
    if B * M * N * K < _BLAS_MIN_WORK:
        return None
    order = batch + free_a + free_b
    return (tuple(sa.index(c) for c in batch + free_a + contracted), (B, M, K),
            tuple(sb.index(c) for c in batch + contracted + free_b), (B, K, N),
            tuple(size[c] for c in order), tuple(order.index(c) for c in out))


def _einsum_vjp(position, g, ans, subscripts, *operands):
    inputs, output = _normalize_einsum(subscripts, [np.shape(o) for o in operands])
    i = position - 1
    target = inputs[i]
    if len(set(target)) != len(target):
        raise NotImplementedError("einsum: the derivative for an operand with a repeated index "
                                  "(%r) is not supported" % target)
    others = [(s, o) for k, (s, o) in enumerate(zip(inputs, operands)) if k != i]
    available = set(output) | set("".join(s for s, _ in others))
    kept = "".join(c for c in target if c in available)
    spec = ",".join([output] + [s for s, _ in others]) + "->" + kept
    cotangent = _contraction(spec, g, *[o for _, o in others])
    if kept != target:
        # indices summed over in this operand alone: the cotangent is constant along them
        shape = np.shape(operands[i])
        kept_shape = tuple(shape[k] if c in kept else 1 for k, c in enumerate(target))
        cotangent = broadcast_to(reshape(cotangent, kept_shape), shape)
    return cotangent


def _einsum_jvp(position, t, ans, subscripts, *operands):
    operands = list(operands)
    operands[position - 1] = t
    return _contraction(subscripts, *operands)


def _contraction(subscripts, *operands):
    """einsum inside a rule: traced, recorded; numerically, lowered to a
    matrix product where it applies (_einsum_fun), as the primitive is."""
    if is_traced(*operands):
        return einsum(subscripts, *operands)
    return _einsum_fun(subscripts, *operands)


_einsum = defprim("einsum", _einsum_fun, vjps=[None], vjp_variadic=_einsum_vjp, jvps=[None],
                  jvp_variadic=_einsum_jvp)


def _sublist_letters(sublist):
    """An einsum sublist ([0, 1], [Ellipsis, 2]) as subscript letters, with
    NumPy's mapping: 0-25 are A-Z, 26-51 are a-z."""
    letters = []
    for label in sublist:
        if label is Ellipsis:
            letters.append("...")
            continue
        label = operator.index(label)
        if not 0 <= label < 52:
            raise ValueError("einsum: subscript %d in a sublist is outside [0, 52)" % label)
        letters.append(chr(ord("A") + label) if label < 26 else chr(ord("a") + label - 26))
    return "".join(letters)


def _from_sublists(arguments):
    """einsum(op0, sublist0, op1, sublist1, ..., [sublist_out]) as
    (subscripts, operands), the string form of the same contraction."""
    operands = list(arguments[0::2])
    inputs = [_sublist_letters(s) for s in arguments[1::2]]
    subscripts = ",".join(inputs[:len(operands)])
    if len(arguments) % 2:
        output = operands.pop()  # (the odd one out is the output sublist)
        subscripts = ",".join(inputs) + "->" + _sublist_letters(output)
    return subscripts, operands


def einsum(*operands, out=None, **kwargs):
    """numpy.einsum with explicit or implicit subscripts, as a string
    ('ij,jk->ik') or as sublists (a, [0, 1], b, [1, 2], [0, 2]); the
    derivative of an operand with a repeated index, such as 'ii->i', is not
    supported."""
    if out is not None:
        raise TypeError("fastad.numpy.einsum does not support out=")
    if not operands:
        raise TypeError("einsum() needs at least one operand")
    if isinstance(operands[0], str):
        subscripts, operands = operands[0], operands[1:]
    else:
        subscripts, operands = _from_sublists(operands)
    if not is_traced(*operands):
        return np.einsum(subscripts, *operands, **kwargs)
    unknown = sorted(set(kwargs) - {"dtype", "order", "casting", "optimize"})
    if unknown:
        raise TypeError("einsum() got an unexpected keyword argument %r" % unknown[0])
    if kwargs.get("dtype") is not None or kwargs.get("casting", "safe") != "safe":
        raise TypeError("fastad.numpy.einsum of traced operands takes no dtype= or casting=: "
                        "convert the operands instead (x.astype(numpy.float32), say)")
    # (order= and optimize= change the result's memory layout and the order
    # of the sums: fastad picks both, see _einsum_fun)
    return _einsum(subscripts, *operands)


# -- products written with the primitives ----------------------------------------------

def kron(a, b):
    """numpy.kron"""
    if not is_traced(a, b):
        return np.kron(a, b)
    ndim = max(np.ndim(a), np.ndim(b))
    a = reshape(a, (1,) * (ndim - np.ndim(a)) + np.shape(a))
    b = reshape(b, (1,) * (ndim - np.ndim(b)) + np.shape(b))
    # a[i, None, j, None] * b[None, k, None, l] -> (i k, j l)
    a_exp = reshape(a, tuple(x for n in np.shape(a) for x in (n, 1)))
    b_exp = reshape(b, tuple(x for n in np.shape(b) for x in (1, n)))
    product = multiply(a_exp, b_exp)
    return reshape(product, tuple(p * q for p, q in zip(np.shape(a), np.shape(b))))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """numpy.cross for 3-vectors (and 2-vectors, giving the z component)."""
    if not is_traced(a, b):
        return np.cross(a, b, axisa, axisb, axisc, axis)
    if axis is not None:
        axisa = axisb = axisc = axis
    axisa, axisb, axisc = operator.index(axisa), operator.index(axisb), operator.index(axisc)
    a = moveaxis(a, axisa, -1)
    b = moveaxis(b, axisb, -1)
    n = np.shape(a)[-1]
    c = lambda x, i: getitem(x, (Ellipsis, i))  # noqa: E731
    if n == 2 and np.shape(b)[-1] == 2:
        return subtract(multiply(c(a, 0), c(b, 1)), multiply(c(a, 1), c(b, 0)))
    if n != 3 or np.shape(b)[-1] != 3:
        raise ValueError("fastad.numpy.cross supports vectors of length 2 or 3")
    x = subtract(multiply(c(a, 1), c(b, 2)), multiply(c(a, 2), c(b, 1)))
    y = subtract(multiply(c(a, 2), c(b, 0)), multiply(c(a, 0), c(b, 2)))
    z = subtract(multiply(c(a, 0), c(b, 1)), multiply(c(a, 1), c(b, 0)))
    return moveaxis(stack([x, y, z], axis=-1), -1, axisc)


def vecdot(x1, x2, /, *, axis=-1):
    """numpy.vecdot: sum(conj(x1) * x2) over `axis` (NumPy conjugates x1)."""
    if not is_traced(x1, x2):
        return numpy_versions.vecdot(x1, x2, axis=axis)
    if np.ndim(x1) == 0 or np.ndim(x2) == 0:
        raise ValueError("vecdot: both operands need at least one dimension (got %d and %d)"
                         % (np.ndim(x1), np.ndim(x2)))
    product = multiply(conjugate(as_traceable(x1)), x2)
    return sum(product, axis=normalize_axis_index(operator.index(axis), np.ndim(product)))


def matvec(x1, x2, /):
    if not is_traced(x1, x2):
        return numpy_versions.matvec(x1, x2)
    return getitem(matmul(x1, getitem(as_traceable(x2), (Ellipsis, None))), (Ellipsis, 0))


def vecmat(x1, x2, /):
    """numpy.vecmat: conj(x1) @ x2 (NumPy conjugates x1)."""
    if not is_traced(x1, x2):
        return numpy_versions.vecmat(x1, x2)
    return getitem(matmul(getitem(conjugate(as_traceable(x1)), (Ellipsis, None, slice(None))),
                          x2), (Ellipsis, 0, slice(None)))
