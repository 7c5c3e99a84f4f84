"""docs/inspector.md is indexed, shows the screenshots the browser tests take, and documents every
filter the API reads and every option `sandlot requests` takes."""

from __future__ import annotations

import re
from pathlib import Path

from sandlot.cli import build_parser
from sandlot.state.journal import parse_filters

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "docs" / "inspector.md").read_text()


def test_the_page_is_indexed_and_its_screenshots_exist() -> None:
    assert "[inspector.md](inspector.md)" in (REPO / "docs" / "README.md").read_text()
    assert "docs/inspector.md" in (REPO / "README.md").read_text()
    images = re.findall(r"\]\((images/[^)]+\.png)\)", PAGE)
    assert sorted(images) == ["images/inspector-controls.png", "images/inspector-detail.png",
                              "images/inspector-live.png"]
    for image in images:
        assert (REPO / "docs" / image).stat().st_size > 10_000, image


def test_every_filter_and_option_is_documented() -> None:
    for name in ("operation", "method", "path", "status", "scenario", "errors", "since", "q", "after", "limit"):
        assert f"| `{name}` |" in PAGE, name
    parse_filters({"q": "x", "after": "1"}, 0.0)  # the documented names are the ones read
    sub = build_parser()._subparsers._group_actions[0].choices["requests"]  # type: ignore[attr-defined]
    options = {o for action in sub._actions for o in action.option_strings if o.startswith("--")}
    for option in options - {"--help", "--url", "--key", "--admin-token", "--tenant", "--text"}:
        assert f"`{option}" in PAGE, option
    assert "pytest" in PAGE and "Jest" in PAGE and "kubectl port-forward" in PAGE
