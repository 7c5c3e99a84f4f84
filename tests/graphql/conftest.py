"""The GraphQL tests keep the SDL start-up cache (graphql/cache.py) in a temporary directory, not
in the user's ~/.cache (the servers they start inherit the variable)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _sdl_cache_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield
