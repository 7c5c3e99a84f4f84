"""Fixtures for the chart tests: a helm binary and a renderer of charts/sandlot/.

Every test here runs the real helm (see cluster_tools.py) on the real chart; nothing is mocked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chart_render import parse_manifests, run_helm, template_args  # noqa: E402
from cluster_tools import ToolUnavailable, find_helm  # noqa: E402

Render = Callable[..., list[dict]]


@pytest.fixture(scope="session")
def helm() -> Path:
    """Return a helm binary, skipping the chart tests only when none can be had at all."""
    try:
        return find_helm()
    except ToolUnavailable as exc:
        pytest.skip(f"chart tests need helm: {exc}")


@pytest.fixture
def render(helm: Path, tmp_path: Path) -> Render:
    """Return a function that renders the chart with `values` and returns its objects."""

    def _render(values: dict | None = None, *, kube_version: str = "1.33.0",
                include_crds: bool = False) -> list[dict]:
        values_file = None
        if values:
            values_file = tmp_path / "values.yaml"
            values_file.write_text(yaml.safe_dump(values))
        done = run_helm(helm, template_args(kube_version=kube_version, include_crds=include_crds,
                                            values_file=values_file))
        assert done.returncode == 0, f"helm template failed:\n{done.stderr}"
        return parse_manifests(done.stdout)

    return _render
