"""numba compilation that keeps its machine code on disk where it can.

``njit(cache=True)`` raises at decoration time, that is at ``import``, when numba finds no
folder it can write its cache in: neither ``__pycache__`` beside the module (a read-only
install) nor the user-wide cache under HOME (a read-only HOME, as on some clusters' compute
nodes).  :func:`njit_cached` then compiles without the cache: the kernels are compiled again
in every process, a few seconds at first call, and everything else works.
"""

from numba import njit

__all__ = ["njit_cached"]


def njit_cached(**options):
    """``numba.njit(cache=True, **options)``, or ``numba.njit(**options)`` if nothing can be cached."""

    def decorate(func):
        try:
            return njit(cache=True, **options)(func)
        except RuntimeError as e:
            # numba's words when no cache locator finds a writable folder
            if "cannot cache function" not in str(e):
                raise
            return njit(**options)(func)

    return decorate
