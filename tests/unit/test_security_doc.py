"""docs/security.md says what the code does: the tests it cites exist, its examples are accepted,
its sample refusal is the operator's own message, and its settings table lists every source setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sandlot.api.v1alpha1 import SandboxTenant
from sandlot.controller.sources import SourceError, address_policy, read_source
from sandlot.reconcile.tenancy import PlatformSources, source_grant
from sandlot.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "security.md").read_text()


def test_every_test_the_threat_model_cites_exists():
    sources = "\n".join(p.read_text() for p in (REPO / "tests").rglob("test_*.py"))
    cited = set(re.findall(r"`(test_[a-z0-9_]+)`", DOC))
    assert len(cited) >= 12
    missing = sorted(name for name in cited if f"def {name}(" not in sources)
    assert missing == []


def test_the_sandbox_tenant_example_is_accepted():
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S) if "kind: SandboxTenant" in b)
    tenant = SandboxTenant.model_validate(yaml.safe_load(block))
    assert tenant.spec.allowedSources is not None and tenant.spec.s3Credentials is not None


def test_the_sample_refusal_is_the_operators_own_message():
    sample = " ".join(re.search(r"```\n(spec\.downstreams\[0\]\.openapi\.url: .*?)```", DOC, re.S).group(1).split())

    class Source:
        configMap = None
        url = "http://169.254.169.254/latest/meta-data/"

    with pytest.raises(SourceError) as refused:
        read_source(None, "team", Source(), "spec.downstreams[0].openapi",  # type: ignore[arg-type]
                    grant=source_grant("payments", None, PlatformSources()),
                    addresses=address_policy(OperatorSettings(), []))
    assert refused.value.reason == "SourceNotAllowed"
    assert refused.value.message == sample


def test_the_settings_table_lists_every_source_setting():
    names = [f"SANDLOT_{n.upper()}" for n in OperatorSettings.model_fields
             if n.startswith("sources_") or n == "cluster_cidrs"]
    assert len(names) == 6
    assert [n for n in names if f"`{n}`" not in DOC] == []
