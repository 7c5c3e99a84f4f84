"""GraphQL over HTTP as its spec's own audit suite judges it: graphql-http's `auditServer` (the
GraphQL Foundation's reference implementation and audits, from npm, cached under
.cache/graphql-http; skipped with the reason when npm cannot install it) against the stub."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.graphql.servers import serve

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "graphql-http"
PACKAGES = ("graphql-http@1.22.4", "graphql@16.15.0")
AUDIT = """
const { auditServer } = require(process.argv[1] + "/node_modules/graphql-http");
auditServer({ url: process.argv[2] }).then((results) => {
  console.log(JSON.stringify(results.map((r) => ({ id: r.id, name: r.name, status: r.status, reason: r.reason }))));
});
"""


def _installed() -> Path:
    if (CACHE / "node_modules" / "graphql-http" / "package.json").is_file():
        return CACHE
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("node/npm are not installed, so graphql-http's audits cannot run; install Node.js 18+")
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", *PACKAGES],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        pytest.skip(f"`npm install {' '.join(PACKAGES)}` failed (is the npm registry reachable?): "
                    f"{done.stderr.strip()[-300:]}")
    return CACHE


def test_every_graphql_over_http_audit_passes() -> None:
    folder = _installed()
    with serve() as stub:
        done = subprocess.run(["node", "-e", AUDIT, str(folder), stub.endpoint], capture_output=True, text=True,
                              timeout=120, check=True)
    results = json.loads(done.stdout)
    assert len(results) >= 50
    failed = [f"{r['status']}: {r['name']} ({r.get('reason')})" for r in results if r["status"] != "ok"]
    assert not failed, failed
