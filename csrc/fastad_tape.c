/* The tape's memory: growable columns, the constant pool, the sources of
 * element reads, and glibc's malloc tuning (see fastad_tape.h).
 *
 * Columns grow by doubling from FA_INITIAL_CAPACITY nodes and are reused
 * when a tape is truncated; a failed growth leaves every column valid at the
 * old capacity, so the Cython layer can raise MemoryError and keep the tape.
 * The kernels that sweep the columns are in fastad_scalar.c. */
#include "fastad_tape.h"

#ifdef FA_GLIBC
#include <malloc.h>
#endif
#ifdef __linux__
#include <sys/mman.h>
#endif
#include <stdlib.h>
#include <string.h>

#define FA_INITIAL_CAPACITY 256

int64_t fa_max_nodes = FA_MAX_NODES;

void fa_tape_init(fa_tape *tape)
{
    memset(tape, 0, sizeof(*tape));
}

void fa_tape_free(fa_tape *tape)
{
    free(tape->opcode);
    free(tape->operand0);
    free(tape->operand1);
    free(tape->primal);
    free(tape->constants);
    for (int64_t i = 0; i < tape->n_sources; ++i)
        free(tape->sources[i].reader);
    free(tape->sources);
    fa_tape_init(tape);
}

void fa_tape_truncate(fa_tape *tape, int64_t size)
{
    if (size >= 0 && size < tape->size)
        tape->size = size;
}

void fa_advise_huge(void *block, size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)1 << 21;
    if (bytes < 4 * huge)
        return;
    uintptr_t start = ((uintptr_t)block + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)block + bytes) & ~(huge - 1);
    if (end > start)
        (void)madvise((void *)start, end - start, MADV_HUGEPAGE); /* (advice: may fail) */
#else
    (void)block;
    (void)bytes;
#endif
}

/* Reallocate one column; on failure the old block stays valid. */
static int grow_column(void **column, int64_t capacity, size_t item)
{
    void *p = realloc(*column, (size_t)capacity * item);
    if (p == NULL)
        return -1;
    *column = p;
    fa_advise_huge(p, (size_t)capacity * item);
    return 0;
}

int fa_tape_grow(fa_tape *tape)
{
    int64_t capacity = tape->capacity ? 2 * tape->capacity : FA_INITIAL_CAPACITY;
    if (capacity > fa_max_nodes)
        capacity = fa_max_nodes;
    if (capacity <= tape->size)
        return -1; /* operand indices are 32-bit: the tape is full */
    /* Columns grow one by one; a failure leaves the smaller capacity valid
     * for every column, because capacity is only raised at the end. */
    if (grow_column((void **)&tape->opcode, capacity, sizeof(uint8_t)) < 0 ||
        grow_column((void **)&tape->operand0, capacity, sizeof(int32_t)) < 0 ||
        grow_column((void **)&tape->operand1, capacity, sizeof(int32_t)) < 0 ||
        grow_column((void **)&tape->primal, capacity, sizeof(double)) < 0)
        return -1;
    tape->capacity = capacity;
    return 0;
}

int fa_tape_grow_constants(fa_tape *tape)
{
    int64_t capacity = tape->constants_capacity ? 2 * tape->constants_capacity : 64;
    if (capacity > FA_MAX_NODES)
        capacity = FA_MAX_NODES;
    if (capacity <= tape->n_constants)
        return -1;
    if (grow_column((void **)&tape->constants, capacity, sizeof(double)) < 0)
        return -1;
    tape->constants_capacity = capacity;
    return 0;
}

int64_t fa_push_source(fa_tape *tape, int64_t node, const double *data, int64_t size)
{
    int64_t i = tape->n_sources;
    if (i == tape->sources_capacity) {
        int64_t capacity = tape->sources_capacity ? 2 * tape->sources_capacity : 8;
        if (capacity > FA_MAX_NODES || grow_column((void **)&tape->sources, capacity,
                                                   sizeof(fa_source)) < 0)
            return -1;
        tape->sources_capacity = capacity;
    }
    tape->sources[i].data = data;
    tape->sources[i].size = size;
    tape->sources[i].offset = tape->source_elements;
    tape->sources[i].node = node;
    tape->sources[i].reader = NULL;
    tape->source_elements += size;
    tape->n_sources = i + 1;
    return i;
}

int64_t fa_push_element(fa_tape *tape, int64_t slot, int64_t element)
{
    fa_source *source = &tape->sources[slot];
    if (source->reader == NULL) {
        source->reader = calloc((size_t)source->size, sizeof(int32_t));
        if (source->reader == NULL)
            return -1;
    }
    const int64_t reader = (int64_t)source->reader[element] - 1;
    if (reader >= 0 && reader < tape->size && tape->opcode[reader] == FA_ELEM &&
        tape->operand0[reader] == slot && tape->operand1[reader] == element)
        return reader;  /* (checked: a truncated tape may have dropped it) */
    int64_t node = fa_push(tape, FA_ELEM, (int32_t)slot, (int32_t)element,
                           source->data[element]);
    if (node >= 0)
        source->reader[element] = (int32_t)(node + 1);
    return node;
}

size_t fa_tape_nbytes(const fa_tape *tape)
{
    size_t per_node = sizeof(uint8_t) + 2 * sizeof(int32_t) + sizeof(double);
    return (size_t)tape->size * per_node + (size_t)tape->n_constants * sizeof(double) +
           (size_t)tape->n_sources * sizeof(fa_source);
}

int fa_tune_malloc(void)
{
#ifdef FA_GLIBC
    /* Blocks under 32 MiB come from the heap (glibc's own upper bound for
     * its adaptive threshold), and up to 128 MiB of free heap is kept. */
    return mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) &&
           mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
#else
    return 0;
#endif
}
