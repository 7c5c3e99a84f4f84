"""Test-suite set-up shared by every test directory.

Operator settings are read from the environment when the handlers are imported, so the
fast re-check and retry intervals the operator tests rely on are set here, first.
"""

import os
import tempfile

os.environ.setdefault("SANDLOT_RECHECK_SECONDS", "0.5")
os.environ.setdefault("SANDLOT_RETRY_SECONDS", "1")
os.environ.setdefault("SANDLOT_RESYNC_SECONDS", "2")
os.environ.setdefault("SANDLOT_ACTIVITY_SECONDS", "0.5")
os.environ.setdefault("SANDLOT_STUB_IMAGE", "ghcr.io/sandlot-dev/sandlot:test")
# The GraphQL SDL start-up cache (graphql/cache.py) of every server the suite starts goes to a
# directory of this run, not the user's ~/.cache (XDG_CACHE_HOME is left alone: pip and Go use it).
os.environ.setdefault("SANDLOT_GRAPHQL_CACHE", tempfile.mkdtemp(prefix="sandlot-test-graphql-cache-"))

pytest_plugins = ["tests.kubeemu.fixtures", "tests.controlplane.fixtures"]
