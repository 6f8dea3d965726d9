/* Sparsity patterns over a tape's scalar nodes, and the greedy colouring of
 * a pattern's columns (fastad/sparsity.py).
 *
 * A node's pattern is the set of input elements it depends on: a sorted list
 * of column indices.  Lists live in an arena whose blocks never move, so a
 * node whose set is an operand's (unary operations, operations with a
 * constant, a union that adds nothing) points to the operand's list instead
 * of copying it: a chain of n operations on one element costs n pointers.
 * An element read x[i] points into row i of its array's pattern (CSR rows
 * held by the Cython layer).  Both passes stop at each FA_EXT node for the
 * Cython layer, which works out the array operation's pattern.
 */
#include <stdlib.h>
#include <string.h>

#include "fastad_tape.h"

struct fa_pattern_block {
    struct fa_pattern_block *next;
    int64_t used, capacity;
    int64_t data[];
};

#define BLOCK_ELEMENTS ((int64_t)1 << 16)

int fa_pattern_init(fa_pattern *p, const fa_tape *tape, int64_t start, int64_t end)
{
    memset(p, 0, sizeof *p);
    p->tape = tape;
    p->start = start;
    p->end = end;
    p->n_sources = tape->n_sources;
    const size_t n = (size_t)(end > start ? end - start : 1);
    const size_t s = (size_t)(p->n_sources > 0 ? p->n_sources : 1);
    p->set = calloc(n, sizeof *p->set);
    p->length = calloc(n, sizeof *p->length);
    p->needed = calloc(n, 1);
    p->source_indptr = calloc(s, sizeof *p->source_indptr);
    p->source_indices = calloc(s, sizeof *p->source_indices);
    if (!p->set || !p->length || !p->needed || !p->source_indptr || !p->source_indices) {
        fa_pattern_free(p);
        return -1;
    }
    return 0;
}

void fa_pattern_free(fa_pattern *p)
{
    free((void *)p->set);
    free(p->length);
    free(p->needed);
    free((void *)p->source_indptr);
    free((void *)p->source_indices);
    for (struct fa_pattern_block *b = p->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    memset(p, 0, sizeof *p);
}

int64_t *fa_pattern_alloc(fa_pattern *p, int64_t n)
{
    struct fa_pattern_block *b = p->blocks;
    if (b == NULL || b->capacity - b->used < n) {
        const int64_t capacity = n > BLOCK_ELEMENTS ? n : BLOCK_ELEMENTS;
        b = malloc(sizeof *b + (size_t)capacity * sizeof(int64_t));
        if (b == NULL)
            return NULL;
        b->next = p->blocks;
        b->used = 0;
        b->capacity = capacity;
        p->blocks = b;
    }
    int64_t *out = b->data + b->used;
    b->used += n;
    return out;
}

/* Give back the last `n` elements fa_pattern_alloc handed out. */
static void give_back(fa_pattern *p, int64_t n)
{
    p->blocks->used -= n;
}

static inline void mark(fa_pattern *p, int64_t node)
{
    if (node >= p->start)
        p->needed[node - p->start] = 1;
}

int64_t fa_pattern_reach(fa_pattern *p, int64_t from)
{
    const fa_tape *tape = p->tape;
    for (int64_t i = from; i >= p->start; --i) {
        if (!p->needed[i - p->start])
            continue;
        const uint8_t op = tape->opcode[i];
        if (op == FA_EXT)
            return i;
        if (op == FA_LEAF || FA_IS_COMPARISON(op) || op == FA_SIGN)
            continue;
        if (op == FA_ELEM) {
            mark(p, tape->sources[tape->operand0[i]].node);
            continue;
        }
        mark(p, tape->operand0[i]);
        if (FA_IS_BINARY(op))
            mark(p, tape->operand1[i]);
    }
    return p->start - 1;
}

/* The set of node `a` into (*set, *length): empty for nodes before the range. */
static inline void operand(const fa_pattern *p, int64_t a, const int64_t **set, int64_t *length)
{
    if (a < p->start) {
        *set = NULL;
        *length = 0;
    } else {
        *set = p->set[a - p->start];
        *length = p->length[a - p->start];
    }
}

/* The union of two sorted lists into node i's entry: one of them where it
 * holds the other, else a merged list.  0, or -1 when memory ran out. */
static int unite(fa_pattern *p, int64_t i, const int64_t *x, int64_t nx, const int64_t *y,
                 int64_t ny)
{
    const int64_t at = i - p->start;
    if (ny == 0 || (x == y && nx == ny)) {
        p->set[at] = x;
        p->length[at] = nx;
        return 0;
    }
    if (nx == 0) {
        p->set[at] = y;
        p->length[at] = ny;
        return 0;
    }
    int64_t *out = fa_pattern_alloc(p, nx + ny);
    if (out == NULL)
        return -1;
    int64_t jx = 0, jy = 0, n = 0;
    while (jx < nx && jy < ny) {
        const int64_t u = x[jx], v = y[jy];
        out[n++] = u <= v ? u : v;
        jx += u <= v;
        jy += v <= u;
    }
    while (jx < nx)
        out[n++] = x[jx++];
    while (jy < ny)
        out[n++] = y[jy++];
    if (n == nx || n == ny) {  /* (one held the other: share it) */
        give_back(p, nx + ny);
        p->set[at] = n == nx ? x : y;
        p->length[at] = n;
        return 0;
    }
    give_back(p, nx + ny - n);
    p->set[at] = out;
    p->length[at] = n;
    return 0;
}

int64_t fa_pattern_run(fa_pattern *p, int64_t from)
{
    const fa_tape *tape = p->tape;
    for (int64_t i = from; i < p->end; ++i) {
        const int64_t at = i - p->start;
        if (!p->needed[at])
            continue;
        const uint8_t op = tape->opcode[i];
        if (op == FA_EXT)
            return i;
        if (op == FA_LEAF || FA_IS_COMPARISON(op) || op == FA_SIGN)
            continue;
        const int64_t a = tape->operand0[i], b = tape->operand1[i];
        if (op == FA_ELEM) {
            const int64_t *indptr = p->source_indptr[a];
            if (indptr != NULL) {
                p->set[at] = p->source_indices[a] + indptr[b];
                p->length[at] = indptr[b + 1] - indptr[b];
            }
            continue;
        }
        const int64_t *x;
        int64_t nx;
        operand(p, a, &x, &nx);
        if (FA_IS_BINARY(op)) {
            const int64_t *y;
            int64_t ny;
            operand(p, b, &y, &ny);
            if (unite(p, i, x, nx, y, ny) < 0)
                return -1;
        } else {
            p->set[at] = x;
            p->length[at] = nx;
        }
    }
    return p->end;
}

/* -- greedy distance-2 colouring of a pattern's columns ------------------------------- */

int64_t fa_colour_columns(int64_t n, const int64_t *row_ptr, const int64_t *row_cols,
                          const int64_t *col_ptr, const int64_t *col_rows, int64_t *colour)
{
    int64_t *degree = malloc((size_t)(n + 1) * sizeof(int64_t));
    int64_t *stamp = malloc((size_t)(n + 1) * sizeof(int64_t));
    int64_t *order = malloc((size_t)(n + 1) * sizeof(int64_t));
    int64_t *count = NULL;
    int64_t n_colours = -1;
    if (!degree || !stamp || !order)
        goto done;
    /* degree: how many columns (itself included) share a row with column j */
    for (int64_t j = 0; j < n; ++j)
        stamp[j] = -1;
    int64_t top = 0;
    for (int64_t j = 0; j < n; ++j) {
        int64_t d = 0;
        for (int64_t q = col_ptr[j]; q < col_ptr[j + 1]; ++q) {
            const int64_t r = col_rows[q];
            for (int64_t s = row_ptr[r]; s < row_ptr[r + 1]; ++s) {
                const int64_t c = row_cols[s];
                if (stamp[c] != j) {
                    stamp[c] = j;
                    ++d;
                }
            }
        }
        degree[j] = d;
        top = d > top ? d : top;
    }
    /* columns by decreasing degree, ties by index (a stable counting sort) */
    count = calloc((size_t)(top + 2), sizeof(int64_t));
    if (count == NULL)
        goto done;
    for (int64_t j = 0; j < n; ++j)
        ++count[top - degree[j] + 1];
    for (int64_t d = 1; d <= top + 1; ++d)
        count[d] += count[d - 1];
    for (int64_t j = 0; j < n; ++j)
        order[count[top - degree[j]]++] = j;
    /* each column the least colour no column sharing a row with it has;
     * stamp[c] == j: colour c is taken for column j */
    for (int64_t j = 0; j < n; ++j) {
        colour[j] = -1;
        stamp[j] = -1;
    }
    n_colours = 0;
    for (int64_t t = 0; t < n; ++t) {
        const int64_t j = order[t];
        for (int64_t q = col_ptr[j]; q < col_ptr[j + 1]; ++q) {
            const int64_t r = col_rows[q];
            for (int64_t s = row_ptr[r]; s < row_ptr[r + 1]; ++s) {
                const int64_t c = colour[row_cols[s]];
                if (c >= 0)
                    stamp[c] = j;
            }
        }
        int64_t c = 0;
        while (stamp[c] == j)
            ++c;
        colour[j] = c;
        n_colours = c + 1 > n_colours ? c + 1 : n_colours;
    }
done:
    free(degree);
    free(stamp);
    free(order);
    free(count);
    return n_colours;
}
