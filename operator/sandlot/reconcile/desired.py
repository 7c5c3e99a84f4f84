"""The desired state of one sandbox: every object its namespace should hold, as dicts.

Pure: the kopf handlers gather the inputs (the CR, the OpenAPI documents and fixtures read
from ConfigMaps, URLs or S3, fresh credentials when none exist yet) and this module decides
what should exist. The result is ordered: namespace first, then isolation, then workloads.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from sandlot.api.v1alpha1 import API_VERSION, SandboxEnvironment
from sandlot.reconcile import naming
from sandlot.render.templating import render
from sandlot.util.appenv import app_environment


@dataclass(frozen=True)
class Document:
    """A file to ship into the sandbox: its file name and text."""

    filename: str
    text: str

    def digest(self) -> str:
        """Return a short digest of the text: the version of a spec in status.specs and the acceptance annotation."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Credentials:
    """Test credentials generated for a sandbox (only when its Secret does not exist yet)."""

    api_key: str
    admin_token: str


@dataclass(frozen=True)
class StubSettings:
    """What the operator's settings contribute to the desired state."""

    image: str
    port: int = 4010
    cluster_domain: str = "cluster.local"
    dns_namespace: str = "kube-system"
    dns_pod_label: str = "k8s-app=kube-dns"
    #: Where the operator runs: a NetworkPolicy lets its pods (these labels) reach the stubs' port.
    operator_namespace: str | None = None
    operator_pod_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """Everything desired_objects needs besides the CR itself."""

    cr_namespace: str
    cr_name: str
    stub: StubSettings
    specs: dict[str, Document] = field(default_factory=dict)
    fixtures: Document | None = None
    credentials: Credentials | None = None
    #: False while the sandbox sleeps: the app and the stubs are scaled to zero, everything else kept.
    awake: bool = True


def service_url(service: str, namespace: str, port: int, domain: str) -> str:
    """Return the in-cluster base URL of a Service."""
    return f"http://{service}.{namespace}.svc.{domain}:{port}"


#: The inspector page every stub serves (its request journal; docs/inspector.md).
INSPECTOR_PATH = "/__sandlot/ui"


def endpoints(sbx: SandboxEnvironment, inputs: Inputs) -> dict[str, str]:
    """Return the in-cluster URLs of the app and of every stub, keyed by name, and each stub's
    inspector page as `<name>.inspector`."""
    ns = naming.sandbox_namespace(inputs.cr_namespace, inputs.cr_name)
    domain = inputs.stub.cluster_domain
    urls = {"app": service_url(naming.APP_NAME, ns, sbx.spec.app.port, domain)}
    for d in sbx.spec.downstreams:
        # A GraphQL downstream's URL is its endpoint, as `sandlot up` gives it.
        path = GRAPHQL_PATH if d.graphql is not None else ""
        stub = service_url(naming.stub_name(d.name), ns, inputs.stub.port, domain)
        urls[d.name] = stub + path
        urls[f"{d.name}.inspector"] = stub + INSPECTOR_PATH
    return urls


#: Where a GraphQL stub serves its endpoint (sandlot.graphql's default path).
GRAPHQL_PATH = "/graphql"
#: The file a GraphQL downstream's SDL is shipped as: the stub knows GraphQL by the `.graphql` name
#: (an introspection result keeps its `.json` name and is known by its content).
GRAPHQL_FILENAME = "schema.graphql"


def stub_document(downstream: Any, doc: Document) -> Document:
    """Return the document as the downstream's stub reads it: a GraphQL schema named so."""
    if downstream.graphql is not None and not doc.filename.endswith((".json", ".graphql")):
        return Document(GRAPHQL_FILENAME, doc.text)
    return doc


def _stub_args(sbx: SandboxEnvironment, downstream: Any, spec: Document, inputs: Inputs) -> list[str]:
    """Return the stub container's arguments for one downstream."""
    args = ["mock", f"/spec/{spec.filename}", "--host", "0.0.0.0", "--port", str(inputs.stub.port)]
    if downstream.stateful:
        args += ["--stateful", "--db", "/state/state.sqlite3"]
        if inputs.fixtures is not None:
            args += ["--fixtures", f"/fixtures/{inputs.fixtures.filename}"]
    if downstream.scenario:
        args += ["--scenario", downstream.scenario]
    if downstream.lenient:
        args.append("--lenient")
    return args


def desired_objects(sbx: SandboxEnvironment, inputs: Inputs) -> list[dict[str, Any]]:
    """Return every object the sandbox needs, namespace first.

    The credentials Secret is included only when `inputs.credentials` is set: credentials
    are generated once and never rotated by a reconcile.
    """
    spec = sbx.spec
    ns = naming.sandbox_namespace(inputs.cr_namespace, inputs.cr_name)
    labels = naming.sandbox_labels(inputs.cr_namespace, inputs.cr_name, spec.tenant)
    common = {"namespace": ns, "labels": labels,
              "owner": naming.owner_annotation(inputs.cr_namespace, inputs.cr_name)}
    dns_key, _, dns_value = inputs.stub.dns_pod_label.partition("=")
    urls = endpoints(sbx, inputs)

    objects = [
        render("namespace.yaml.j2", **common),
        render("resourcequota.yaml.j2", quota=spec.quota.to_wire(), **common),
        render("limitrange.yaml.j2", quota=spec.quota.to_wire(), **common),
        render("networkpolicy.yaml.j2", name=naming.NETWORK_POLICY, dns_namespace=inputs.stub.dns_namespace,
               dns_label_key=dns_key, dns_label_value=dns_value,
               egress=[r.to_wire() for r in spec.network.egress], **common),
    ]
    if inputs.stub.operator_namespace and spec.downstreams:
        objects.append(render("networkpolicy-operator.yaml.j2", operator_namespace=inputs.stub.operator_namespace,
                              operator_pod_labels=inputs.stub.operator_pod_labels, stub_port=inputs.stub.port,
                              **common))
    objects.append(render("serviceaccount.yaml.j2", service_account=naming.SERVICE_ACCOUNT, **common))
    if inputs.credentials is not None:
        objects.append(render("secret-credentials.yaml.j2", name=naming.CREDENTIALS_SECRET,
                              api_key=inputs.credentials.api_key,
                              admin_token=inputs.credentials.admin_token, **common))
    if inputs.fixtures is not None:
        objects.append(render("configmap.yaml.j2", name=naming.FIXTURES_CONFIGMAP, component="fixtures",
                              extra_labels={}, data={inputs.fixtures.filename: inputs.fixtures.text},
                              **common))

    for d in spec.downstreams:
        doc = stub_document(d, inputs.specs[d.name])
        name = naming.stub_name(d.name)
        selector = {naming.LABEL_COMPONENT: "stub", naming.LABEL_DOWNSTREAM: d.name}
        objects.append(render("configmap.yaml.j2", name=naming.spec_configmap_name(d.name),
                              component="openapi", extra_labels={naming.LABEL_DOWNSTREAM: d.name},
                              data={doc.filename: doc.text}, **common))
        objects.append(render("deployment-stub.yaml.j2", name=name, downstream=d.to_wire(),
                              selector=selector, stub_image=inputs.stub.image, stub_port=inputs.stub.port,
                              replicas=1 if inputs.awake else 0,
                              args=_stub_args(sbx, d, doc, inputs),
                              service_account=naming.SERVICE_ACCOUNT,
                              credentials_secret=naming.CREDENTIALS_SECRET,
                              spec_configmap=naming.spec_configmap_name(d.name),
                              fixtures_key=inputs.fixtures.filename if inputs.fixtures and d.stateful else "",
                              fixtures_configmap=naming.FIXTURES_CONFIGMAP, **common))
        objects.append(render("service.yaml.j2", name=name, component="stub", port=inputs.stub.port,
                              selector=selector, extra_labels={naming.LABEL_DOWNSTREAM: d.name}, **common))

    app_env = app_environment(
        [e.to_wire() for e in spec.app.env], [(d.envVar, urls[d.name]) for d in spec.downstreams],
        api_key_from={"secretKeyRef": {"name": naming.CREDENTIALS_SECRET, "key": "apiKey"}})
    app = spec.app.to_wire() if inputs.awake else {**spec.app.to_wire(), "replicas": 0}
    objects.append(render("deployment-app.yaml.j2", name=naming.APP_NAME, app=app,
                          env=app_env, service_account=naming.SERVICE_ACCOUNT, **common))
    objects.append(render("service.yaml.j2", name=naming.APP_NAME, component="app", port=spec.app.port,
                          selector={naming.LABEL_COMPONENT: "app",
                                    naming.LABEL_SANDBOX: labels[naming.LABEL_SANDBOX]},
                          extra_labels={}, **common))
    if spec.seed is not None and spec.seed.job is not None:
        seed_env = [{"name": d.envVar, "value": urls[d.name]} for d in spec.downstreams]
        seed_env.append({"name": "SANDLOT_APP_URL", "value": urls["app"]})
        objects.append(render("job-seed.yaml.j2", name="sandlot-seed", job=spec.seed.job.to_wire(),
                              env=seed_env, service_account=naming.SERVICE_ACCOUNT, **common))
    return objects


def credentials_copy_name(cr_name: str) -> str:
    """Return the name of the Secret that hands a sandbox's credentials to its team."""
    return f"{cr_name}-credentials"[:253]


def credentials_copy(*, cr_namespace: str, cr_name: str, cr_uid: str, tenant: str, values: dict[str, str],
                     urls: dict[str, str]) -> dict[str, Any]:
    """Return the Secret in the CR's namespace holding the sandbox's credentials and endpoint URLs.

    `values` are the credentials as stored in the sandbox namespace (apiKey, adminToken); each
    endpoint is added as `url.<name>`. Owned by the CR, so it goes when the CR goes.
    """
    data = dict(values)
    data.update({f"url.{name}": url for name, url in urls.items()})
    return render("secret-credentials-copy.yaml.j2", name=credentials_copy_name(cr_name), namespace=cr_namespace,
                  labels=naming.sandbox_labels(cr_namespace, cr_name, tenant),
                  owner=naming.owner_annotation(cr_namespace, cr_name), owner_api_version=API_VERSION,
                  owner_kind="SandboxEnvironment", owner_name=cr_name, owner_uid=cr_uid,
                  data=dict(sorted(data.items())))


#: The key of a kept stub store in its Secret.
STATE_KEY = "state.sqlite3.gz"


def state_secret_name(downstream: str) -> str:
    """Return the name of the Secret that keeps a stub's store while its sandbox sleeps."""
    return f"sandlot-state-{downstream}"


def state_secret(*, cr_namespace: str, cr_name: str, tenant: str, downstream: str, data: bytes) -> dict[str, Any]:
    """Return the Secret keeping a stateful stub's whole store (gzip'd SQLite) while the sandbox sleeps."""
    return render("secret-state.yaml.j2", name=state_secret_name(downstream),
                  namespace=naming.sandbox_namespace(cr_namespace, cr_name),
                  labels=naming.sandbox_labels(cr_namespace, cr_name, tenant),
                  owner=naming.owner_annotation(cr_namespace, cr_name), downstream=downstream, key=STATE_KEY,
                  data=base64.b64encode(data).decode())
