"""docs/drift.md says what the drift proxy does: its rule table and its live-key table are the
code's, and the pages that list `sandlot mock`'s and `sandlot up`'s options point at it."""

from __future__ import annotations

from pathlib import Path

from sandlot.mock.conformance import markdown_table
from sandlot.state.keys import LIVE_KEY_SHAPES

REPO = Path(__file__).resolve().parents[2]
DRIFT = REPO / "docs" / "drift.md"


def _between(name: str) -> str:
    text = DRIFT.read_text()
    return text.split(f"<!-- {name}:start -->\n", 1)[1].split(f"\n<!-- {name}:end -->", 1)[0] + "\n"


def test_the_drift_rule_table_is_the_codes() -> None:
    assert _between("drift-rules") == markdown_table(), \
        "docs/drift.md's drift rule table is stale: paste `python -m sandlot.mock.conformance`"


def test_the_live_key_table_is_the_one_list() -> None:
    rows = ["| pattern | whose |", "|---|---|", *(f"| `{p}` | {w} |" for p, w in LIVE_KEY_SHAPES)]
    assert _between("live-keys") == "\n".join(rows) + "\n"
    assert "drift.md#live-credentials" in (REPO / "docs" / "stateful.md").read_text()


def test_the_pages_point_at_the_flows() -> None:
    assert "drift.md#a-proxy-run-that-finds-drift" in (REPO / "docs" / "mock.md").read_text()
    assert "drift.md#sandlot-up-following-its-providers-spec" in (REPO / "docs" / "stateful.md").read_text()
    for anchor in ("#a-proxy-run-that-finds-drift", "#live-credentials", "#recording-real-responses-for-offline-use",
                   "#sandlot-up-following-its-providers-spec"):
        heading = anchor[1:].replace("-", " ")
        assert any(line.lstrip("#").strip().lower().replace("`", "").replace("'", "") == heading
                   for line in DRIFT.read_text().splitlines() if line.startswith("#")), anchor
