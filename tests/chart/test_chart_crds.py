"""The chart ships exactly the CRDs in crds/ (which `sandlot crds` generates from the models).

charts/sandlot/crds/ is written by `sandlot crds` too; a hand edit or a forgotten
regeneration of one copy shows up here.
"""

from __future__ import annotations

import pytest
import yaml
from chart_render import CHART
from cluster_tools import REPO

SOURCE = REPO / "crds"
CHART_COPY = CHART / "crds"


def _yaml_files(directory):
    return sorted(p.name for p in directory.glob("*.yaml"))


def test_chart_crds_are_the_same_files_as_crds_dir():
    source_files = _yaml_files(SOURCE)
    if not source_files:
        pytest.skip("crds/ holds no CRDs yet: run `make crds` (sandlot crds) to generate them")
    assert _yaml_files(CHART_COPY) == source_files, (
        "charts/sandlot/crds/ and crds/ hold different files; run `make crds` to rewrite both")
    for name in source_files:
        assert (CHART_COPY / name).read_bytes() == (SOURCE / name).read_bytes(), (
            f"charts/sandlot/crds/{name} differs from crds/{name}; run `make crds` to rewrite both")


def test_rendered_chart_installs_every_crd(render):
    rendered = {o["metadata"]["name"]: o for o in render(include_crds=True)
                if o["kind"] == "CustomResourceDefinition"}
    for path in sorted(SOURCE.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        assert rendered.get(crd["metadata"]["name"]) == crd, f"{path.name} is not rendered as-is"
    assert {"sandboxenvironments.sandlot.dev", "sandboxtenants.sandlot.dev"} <= rendered.keys()
