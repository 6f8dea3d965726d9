# Sparsity patterns and colouring in C (included by _tape.pyx).
#
# `PatternPass` runs csrc/fastad_pattern.c over a recorded tape for
# fastad/sparsity.py: the scalar nodes' sets of input elements are found in
# C, sharing lists where a node depends on what an operand does; sparsity.py
# gives the array nodes' patterns (CSR rows) where the passes stop.

@cython.final
cdef class PatternPass:
    """The sparsity pattern of the nodes [start, end) of `tape`: flag the
    output (`mark`), flag what it reads (`reach`, stopping at array nodes,
    whose operands the caller flags), then find the flagged nodes' sets
    (`run`, stopping at array nodes, whose pattern the caller gives with
    `set_array`)."""
    cdef Tape tape
    cdef fa_pattern p
    cdef bint ready
    cdef list kept  # the CSR arrays the C lists point into

    def __cinit__(self, Tape tape, int64_t start, int64_t end):
        if not 0 <= start <= end <= tape.c.size:
            raise ValueError("nodes [%d, %d) are not a range of a tape of %d nodes"
                             % (start, end, tape.c.size))
        if fa_pattern_init(&self.p, &tape.c, start, end) < 0:
            raise MemoryError("no memory for the patterns of %d nodes" % (end - start))
        self.ready = True
        self.tape = tape
        self.kept = []

    def __dealloc__(self):
        if self.ready:
            fa_pattern_free(&self.p)

    cdef int _check(self) except -1:
        """The tape has not changed under the pass (its columns and sources
        are the ones the pass reads)."""
        if self.p.end > self.tape.c.size or self.p.n_sources != self.tape.c.n_sources:
            raise RuntimeError("the tape grew during a sparsity pass over it")
        return 0

    cdef int64_t _at(self, int64_t node) except -1:
        if not self.p.start <= node < self.p.end:
            raise IndexError("node %d is outside the pass's range [%d, %d)"
                             % (node, self.p.start, self.p.end))
        return node - self.p.start

    def mark(self, int64_t node):
        """Flag `node` as needed (nothing for nodes before the range)."""
        if self.p.start <= node < self.p.end:
            self.p.needed[node - self.p.start] = 1

    def needed(self, int64_t node):
        return bool(self.p.needed[self._at(node)])

    def reach(self, int64_t node):
        """Flag what the flagged nodes from `node` down read: returns the
        next flagged array node, or start - 1 when done."""
        if not self.p.start - 1 <= node < self.p.end:
            raise IndexError("node %d is outside the pass's range [%d, %d)"
                             % (node, self.p.start, self.p.end))
        self._check()
        return fa_pattern_reach(&self.p, node)

    def run(self, int64_t node):
        """The flagged nodes' sets from `node` up: returns the next flagged
        array node, or end when done."""
        if not self.p.start <= node <= self.p.end:
            raise IndexError("node %d is outside the pass's range [%d, %d]"
                             % (node, self.p.start, self.p.end))
        self._check()
        cdef int64_t at = fa_pattern_run(&self.p, node)
        if at < 0:
            raise MemoryError("no memory for the sparsity patterns of a tape")
        return at

    def set_array(self, int64_t node, object indptr, object indices):
        """Array node `node`'s pattern as CSR rows (int64 indptr, indices
        sorted and unique within each row): element reads of it see the rows, and a one-row
        pattern is the node's set too (an array op with a scalar result)."""
        cdef int64_t at = self._at(node)
        cdef cnp.ndarray[int64_t, ndim=1] ptr = np.ascontiguousarray(indptr, np.int64)
        cdef cnp.ndarray[int64_t, ndim=1] ids = np.ascontiguousarray(indices, np.int64)
        cdef int64_t rows = ptr.shape[0] - 1
        if rows < 0 or ptr[0] != 0 or ptr[rows] != ids.shape[0] or (
                rows and np.any(np.diff(ptr) < 0)):
            raise ValueError("set_array: indptr is not a CSR row pointer of %d indices"
                             % ids.shape[0])
        self.kept.append((ptr, ids))
        cdef const int64_t *base = <const int64_t *>ptr.data
        cdef const int64_t *cols = <const int64_t *>ids.data
        if rows == 1:
            self.p.set[at] = cols
            self.p.length[at] = ids.shape[0]
        cdef Ext ext = self.tape._ext_of(node)
        if ext is not None and ext.source and rows == self.tape.c.sources[ext.source - 1].size:
            self.p.source_indptr[ext.source - 1] = base
            self.p.source_indices[ext.source - 1] = cols

    def set_scalar(self, int64_t node, object indices):
        """Scalar node `node`'s set (sorted, unique int64 indices)."""
        cdef int64_t at = self._at(node)
        cdef cnp.ndarray[int64_t, ndim=1] ids = np.array(indices, np.int64, ndmin=1)
        cdef int64_t *out = NULL
        cdef int64_t n = ids.shape[0]
        if n:
            out = fa_pattern_alloc(&self.p, n)
            if out == NULL:
                raise MemoryError("no memory for the sparsity patterns of a tape")
            memcpy(out, ids.data, n * sizeof(int64_t))
        self.p.set[at] = out
        self.p.length[at] = n

    def has(self, int64_t node):
        """Whether scalar node `node` depends on any input element."""
        return self.p.start <= node < self.p.end and self.p.length[node - self.p.start] > 0

    def gather(self, object nodes):
        """The sets of the scalar nodes `nodes` as CSR rows (indptr, indices),
        one row per node (empty for nodes outside the range)."""
        cdef cnp.ndarray[int64_t, ndim=1] which = np.ascontiguousarray(nodes, np.int64)
        cdef int64_t count = which.shape[0], k, node, total = 0
        cdef cnp.ndarray[int64_t, ndim=1] indptr = np.zeros(count + 1, np.int64)
        for k in range(count):
            node = which[k]
            if self.p.start <= node < self.p.end:
                total += self.p.length[node - self.p.start]
            indptr[k + 1] = total
        cdef cnp.ndarray[int64_t, ndim=1] indices = np.empty(total, np.int64)
        for k in range(count):
            node = which[k]
            if indptr[k + 1] > indptr[k]:
                memcpy(&indices[indptr[k]], self.p.set[node - self.p.start],
                       (indptr[k + 1] - indptr[k]) * sizeof(int64_t))
        return indptr, indices


def colour_columns_c(int64_t n, object row_ptr, object row_cols, object col_ptr,
                     object col_rows):
    """Greedy distance-2 colouring of the n columns of a pattern given as
    CSR and CSC (int64 arrays): (colour per column, number of colours).
    Columns sharing a row differ; largest degree first, ties by index."""
    cdef cnp.ndarray[int64_t, ndim=1] rp = np.ascontiguousarray(row_ptr, np.int64)
    cdef cnp.ndarray[int64_t, ndim=1] rc = np.ascontiguousarray(row_cols, np.int64)
    cdef cnp.ndarray[int64_t, ndim=1] cp = np.ascontiguousarray(col_ptr, np.int64)
    cdef cnp.ndarray[int64_t, ndim=1] cr = np.ascontiguousarray(col_rows, np.int64)
    cdef int64_t m = rp.shape[0] - 1
    if (cp.shape[0] != n + 1 or m < 0 or rp[m] != rc.shape[0] or cp[n] != cr.shape[0]
            or rc.shape[0] != cr.shape[0]
            or (rc.shape[0] and (rc.min() < 0 or rc.max() >= n or cr.min() < 0
                                 or cr.max() >= m))):
        raise ValueError("colour_columns_c: not the CSR and CSC of one %d-column pattern" % n)
    cdef cnp.ndarray[int64_t, ndim=1] colour = np.empty(n, np.int64)
    cdef int64_t k
    with nogil:
        k = fa_colour_columns(n, <const int64_t *>rp.data, <const int64_t *>rc.data,
                              <const int64_t *>cp.data, <const int64_t *>cr.data,
                              <int64_t *>colour.data)
    if k < 0:
        raise MemoryError("no memory to colour a pattern of %d columns" % n)
    return colour, int(k)
