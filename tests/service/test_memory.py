"""Handing freed memory back: harmless everywhere, effective on glibc."""

from __future__ import annotations

import platform

from bot.service.memory import limit_malloc_arenas, release_freed_memory


def test_malloc_helpers_run_and_say_whether_they_could():
    assert isinstance(release_freed_memory(), bool)
    assert isinstance(limit_malloc_arenas(8), bool)  # 8: the default for two cores
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert limit_malloc_arenas(8)
