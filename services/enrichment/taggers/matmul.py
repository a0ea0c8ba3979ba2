"""The model's matrix products through NumPy's BLAS (OpenBLAS), one thread a process.

thinc, under spaCy, multiplies a layer's matrices with BLIS by default. NumPy's OpenBLAS does
the same products for a tagger's shapes (a few to a few hundred tokens by 96–288 features) in
0.76–0.85 of the time on one thread, and the model reads a text in 0.80–0.90 of it (``python -m
bench.matmul``), with the same tags: the whole development sets (1,016 documents) tag the same
either way. The transition-based entity recogniser's own inner product stays in BLIS: spaCy calls
it from compiled code.

One thread: a worker process is one of several sharing the machine's cores (enrichment runs one
per core), and more threads would only take cores from the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from thinc.api import NumpyOps, Ops, get_current_ops, set_current_ops
from threadpoolctl import threadpool_limits


class NumpyBlasOps(NumpyOps):
    """thinc's CPU ops, matrix products by NumPy."""

    def gemm(self, x, y, *, out=None, trans1: bool = False, trans2: bool = False):
        return Ops.gemm(self, x, y, out=out, trans1=trans1, trans2=trans2)


def single_threaded_blas() -> None:
    """Keep this process's BLAS to one thread (for the rest of its life)."""
    threadpool_limits(limits=1, user_api="blas")


@contextmanager
def numpy_blas() -> Iterator[None]:
    """Models built inside multiply with ``NumpyBlasOps`` (thinc gives a layer the current ops
    when it is built); the BLAS of this process keeps to one thread from here on."""
    single_threaded_blas()
    previous = get_current_ops()
    set_current_ops(NumpyBlasOps())
    try:
        yield
    finally:
        set_current_ops(previous)
