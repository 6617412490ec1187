"""Keeping glibc's malloc from holding memory the bot no longer uses.

Building the index at start reads every pair through the ORM and unpickles the index
cache; Python frees most of that, but malloc keeps the pages for reuse. And each thread
that allocates (ONNX Runtime's, the answering and database threads) gets its own malloc
arena, each keeping its own free pages. Measured on `agribot serve` with the bundled
bank: trimming after start returned 24 MB, two arenas instead of sixteen 13 MB.
Elsewhere (not glibc) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

logger = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h
SERVING_ARENAS = 2


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def limit_malloc_arenas(arenas: int = SERVING_ARENAS) -> bool:
    """Cap glibc's malloc arenas; call before threads start. False where it cannot."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas))


def release_freed_memory() -> bool:
    """Return the free pages malloc holds to the system; True where any were returned."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
