"""`helm lint --strict` on the chart, and values.schema.json refusing wrong values.

A wrong value must stop `helm template` (and so install/upgrade) with a message that names
the offending key, instead of rendering a Deployment that fails later in the cluster.
"""

from __future__ import annotations

import pytest
import yaml
from chart_render import CHART, run_helm, template_args


def test_helm_lint_strict_passes(helm):
    done = run_helm(helm, ["lint", "--strict", str(CHART)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_helm_lint_strict_passes_with_everything_on(helm):
    done = run_helm(helm, ["lint", "--strict", str(CHART), "--set", "ha.enabled=true",
                           "--set", "metrics.serviceMonitor.enabled=true",
                           "--set", "operator.watchNamespaces={team-a}"])
    assert done.returncode == 0, done.stdout + done.stderr


WRONG_VALUES = [
    ({"ha": {"enabled": "yes"}}, "/ha/enabled"),
    ({"ha": {"replicas": "two"}}, "/ha/replicas"),
    ({"ha": {"enabled": True, "replicas": 1}}, "/ha/replicas"),
    ({"operator": {"watchNamespaces": "team-a"}}, "/operator/watchNamespaces"),
    ({"operator": {"watchNamespaces": ["Team_A"]}}, "/operator/watchNamespaces"),
    ({"operator": {"healthPort": 70000}}, "/operator/healthPort"),
    ({"operator": {"resources": {"limits": {"memory": ["1Gi"]}}}}, "/operator/resources/limits/memory"),
    ({"operator": {"replicas": 2}}, "'replicas' not allowed"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"image": {"digest": "latest"}}, "/image/digest"),
    ({"metrics": {"serviceMonitor": {"enabled": "true"}}}, "/metrics/serviceMonitor/enabled"),
    ({"metrics": {"serviceMonitor": {"interval": 30}}}, "/metrics/serviceMonitor/interval"),
    ({"serviceAccount": {"annotations": {"a": 1}}}, "/serviceAccount/annotations"),
    ({"rbac": {"create": "false"}}, "/rbac/create"),
    ({"ha": {"peeringObject": "sometimes"}}, "/ha/peeringObject"),
]


@pytest.mark.parametrize(("values", "named"), WRONG_VALUES, ids=[f"{i}-{w[1]}" for i, w in enumerate(WRONG_VALUES)])
def test_schema_rejects_wrong_values_naming_the_key(helm, tmp_path, values, named):
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    done = run_helm(helm, template_args(values_file=values_file))
    assert done.returncode != 0, f"helm accepted {values}"
    assert "values don't meet the specifications of the schema" in done.stderr, done.stderr
    # helm names the offending value by its JSON pointer (/ha/replicas) or an unknown key by name.
    assert named in done.stderr, done.stderr


@pytest.mark.parametrize(("sets", "message"), [
    (["metrics.serviceMonitor.enabled=true", "metrics.service.enabled=false"],
     "metrics.serviceMonitor.enabled needs metrics.service.enabled=true"),
    (["serviceAccount.create=false"], "serviceAccount.name is required when serviceAccount.create is false"),
])
def test_inconsistent_values_fail_with_the_fix(helm, sets, message):
    done = run_helm(helm, template_args(sets=sets))
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
