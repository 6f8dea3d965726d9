"""Central differences for complex functions, shared by tests/test_complex.py and
tests/test_complex_systematic.py: a value packed as its real numbers (real parts,
then imaginary parts), and the real Jacobian of a function of real or complex
arrays, in which vjp(c) = conj(J^T conj(c)) and jvp(t) = J t."""
import numpy


def pack(values):
    """Real numbers of a value or a tuple of values: each array's real parts, then
    (if complex) its imaginary parts."""
    if not isinstance(values, (tuple, list)):
        values = [values]
    parts = []
    for z in values:
        z = numpy.asarray(z)
        parts += [z.real.ravel(), z.imag.ravel()] if z.dtype.kind == "c" else [z.ravel()]
    return numpy.concatenate([numpy.asarray(p, numpy.float64) for p in parts] or [numpy.zeros(0)])


def unpack(vector, like):
    """Arrays shaped as `like` from packed parts (complex where `like` is)."""
    out, offset = [], 0
    for a in like:
        n = a.size
        if a.dtype.kind == "c":
            out.append((vector[offset:offset + n] + 1j * vector[offset + n:offset + 2 * n])
                       .reshape(a.shape))
            offset += 2 * n
        else:
            out.append(vector[offset:offset + n].reshape(a.shape))
            offset += n
    return out


def real_jacobian(f, args, eps=1e-6):
    """Central differences of f's packed output in every real direction of every
    argument (the real and the imaginary part of each complex element)."""
    columns = []
    for k, a in enumerate(args):
        for part in ((1.0, 1.0j) if a.dtype.kind == "c" else (1.0,)):
            for i in range(a.size):
                step = numpy.zeros(a.shape, a.dtype)
                step.flat[i] = eps * part
                plus, minus = list(args), list(args)
                plus[k], minus[k] = a + step, a - step
                columns.append((pack(f(*plus)) - pack(f(*minus))) / (2 * eps))
    return numpy.array(columns).T
