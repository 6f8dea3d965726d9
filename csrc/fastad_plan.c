/* Moves between strided blocks of float64 values: the data movement of a
 * recorded tape's lowered replay (src/fastad/_core/plan.pxi).  Indexing by
 * slices, reshapes, transposes, broadcasting, concatenate and stack each
 * copy a block of one buffer into another; their reverse steps add the
 * block back, which also sums a broadcast's repeated elements (a stride of
 * 0 on the side added into). */
#include "fastad_tape.h"
#include "fastad_math.h"

#include <string.h>

void fa_move_simplify(fa_move *m)
{
    /* Unit dimensions go; a dimension merges with the next one where both
     * sides step through the pair as through one run. */
    int32_t n = 0;
    for (int32_t k = 0; k < m->ndim; ++k) {
        if (m->shape[k] == 1)
            continue;
        if (n > 0 && m->to_strides[n - 1] == m->to_strides[k] * m->shape[k]
                && m->from_strides[n - 1] == m->from_strides[k] * m->shape[k]) {
            m->shape[n - 1] *= m->shape[k];
            m->to_strides[n - 1] = m->to_strides[k];
            m->from_strides[n - 1] = m->from_strides[k];
            continue;
        }
        m->shape[n] = m->shape[k];
        m->to_strides[n] = m->to_strides[k];
        m->from_strides[n] = m->from_strides[k];
        ++n;
    }
    m->ndim = n;
}

/* One run of the innermost dimension: to[i t] (+)= from[i f]. */
static inline void move_run(double *FA_RESTRICT to, int64_t t, const double *FA_RESTRICT from,
                            int64_t f, int64_t n, int accumulate)
{
    if (accumulate) {
        if (t == 1 && f == 1) {
            for (int64_t i = 0; i < n; ++i)
                to[i] += from[i];
        } else if (t == 0) {
            double s = *to;  /* (a broadcast summed back: in order) */
            for (int64_t i = 0; i < n; ++i)
                s += from[i * f];
            *to = s;
        } else {
            for (int64_t i = 0; i < n; ++i)
                to[i * t] += from[i * f];
        }
    } else if (t == 1 && f == 1) {
        memcpy(to, from, (size_t)n * sizeof(double));
    } else {
        for (int64_t i = 0; i < n; ++i)
            to[i * t] = from[i * f];
    }
}

static void move(int32_t ndim, const int64_t *shape, double *to, const int64_t *ts,
                 const double *from, const int64_t *fs, int accumulate)
{
    int64_t index[FA_MOVE_DIMS] = {0};
    for (int32_t k = 0; k < ndim; ++k)
        if (shape[k] == 0)
            return;
    if (ndim == 0) {
        *to = accumulate ? *to + *from : *from;
        return;
    }
    const int32_t last = ndim - 1;
    for (;;) {
        move_run(to, ts[last], from, fs[last], shape[last], accumulate);
        int32_t k = last - 1;
        for (; k >= 0; --k) {
            to += ts[k];
            from += fs[k];
            if (++index[k] < shape[k])
                break;
            to -= ts[k] * shape[k];
            from -= fs[k] * shape[k];
            index[k] = 0;
        }
        if (k < 0)
            return;
    }
}

void fa_move_run(const fa_move *m, double *to, const double *from, int accumulate)
{
    move(m->ndim, m->shape, to + m->to_offset, m->to_strides, from + m->from_offset,
         m->from_strides, accumulate);
}

void fa_move_back(const fa_move *m, double *from_adjoint, const double *to_adjoint,
                  int accumulate)
{
    move(m->ndim, m->shape, from_adjoint + m->from_offset, m->from_strides,
         to_adjoint + m->to_offset, m->to_strides, accumulate);
}
