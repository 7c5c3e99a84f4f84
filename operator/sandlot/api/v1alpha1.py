"""Pydantic models of the sandlot.dev/v1alpha1 resources: the single source of truth.

`sandlot crds` turns these models into the CRDs under crds/ (see crdgen.py); the operator
parses every custom resource through them, and `sandlot up` reads the same manifests.
Field constraints here become OpenAPI validation in the CRD, so bad input is refused at
`kubectl apply` time with a message naming the field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from sandlot.util.durations import parse_duration as duration_seconds

GROUP = "sandlot.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: RFC 1123 label: what Kubernetes accepts as a namespace or Service name.
DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: RFC 1123 subdomain: what Kubernetes accepts as a ConfigMap or Secret name.
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: A ConfigMap data key.
CONFIGMAP_KEY = r"^[-._a-zA-Z0-9]+$"
#: An environment variable name as shells and Kubernetes accept it.
ENV_VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: A time to live: a positive whole number of minutes, hours or days (`90m`, `72h`, `7d`).
TTL_PATTERN = r"^[1-9][0-9]{0,4}(m|h|d)$"
#: A duration that may also be in seconds (`30s`, `15m`, `8h`, `14d`): idleAfter, maxLifetime.
DURATION_PATTERN = r"^[1-9][0-9]{0,5}(s|m|h|d)$"
#: A Kubernetes resource quantity (`500m`, `2`, `4Gi`).
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
#: An IPv4 or IPv6 CIDR block.
CIDR = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9a-fA-F:]+:[0-9a-fA-F:]*/[0-9]{1,3})$"
#: An http(s) URL.
HTTP_URL = r"^https?://[^\s]+$"
#: An S3 bucket name.
BUCKET = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"
#: An AWS IAM role ARN.
ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$"



def parse_duration(text: str) -> timedelta:
    """Return the length of a duration as the API spells it (`30s`, `90m`, `72h`, `7d`); raise ValueError otherwise.

    The grammar is the one of util/durations.py (the fields' patterns narrow it further).
    """
    return timedelta(seconds=duration_seconds(text, "duration"))


Port = Annotated[int, Field(ge=1, le=65535, description="TCP port, 1-65535.")]
Quantity = Annotated[str, Field(pattern=QUANTITY, description="Kubernetes quantity, e.g. 500m, 2, 4Gi.")]


def _one_of(*fields: str) -> dict[str, Any]:
    """Return a CEL rule that accepts an object with exactly one of `fields` set."""
    terms = " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in fields)
    return {"rule": f"{terms} == 1", "message": f"set exactly one of {', '.join(fields)}"}


def _check_one_of(model: BaseModel, *fields: str) -> None:
    """Raise ValueError unless exactly one of `fields` is set (the CEL rule, enforced locally too)."""
    chosen = [f for f in fields if getattr(model, f) is not None]
    if len(chosen) != 1:
        got = ", ".join(chosen) if chosen else "none"
        raise ValueError(f"set exactly one of {', '.join(fields)} (got {got})")


class KubeModel(BaseModel):
    """Base: camelCase on the wire, unknown fields refused (the CRD prunes them anyway)."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, frozen=False
    )

    def to_wire(self) -> dict[str, Any]:
        """Return the object as Kubernetes stores it: camelCase, unset optionals left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class EnvVar(KubeModel):
    """One environment variable for the app."""

    name: str = Field(pattern=ENV_VAR_NAME, max_length=128, description="Variable name.")
    value: str = Field(default="", max_length=4096, description="Literal value.")


class ResourceAmounts(KubeModel):
    """CPU and memory amounts."""

    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(KubeModel):
    """Container requests and limits."""

    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None


class App(KubeModel):
    """The team's own service, run from its production image in sandbox mode."""

    image: str = Field(min_length=1, max_length=512, pattern=r"^[^\s]+$",
                       description="Container image of the app, e.g. ghcr.io/acme/payments:sha-1234.")
    port: Port = Field(default=8080, description="Port the app listens on.")
    env: list[EnvVar] = Field(
        default_factory=list, max_length=100,
        description="Environment that switches the app to sandbox mode (e.g. SANDBOX_MODE=true).",
    )
    resources: Resources | None = Field(default=None, description="Container requests and limits.")
    replicas: int = Field(default=1, ge=0, le=10, description="Number of app pods (0 pauses the app).")
    command: list[str] | None = Field(default=None, max_length=50, description="Overrides the image entrypoint.")
    args: list[str] | None = Field(default=None, max_length=100, description="Arguments for the entrypoint.")
    readinessPath: str | None = Field(
        default=None, pattern=r"^/", max_length=256, alias="readinessPath",
        description="HTTP path of the app's readiness probe; no probe when unset.",
    )


class ConfigMapKeyRef(KubeModel):
    """A key in a ConfigMap of the SandboxEnvironment's own namespace."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN, description="ConfigMap name.")
    key: str = Field(min_length=1, max_length=253, pattern=CONFIGMAP_KEY, description="Key in the ConfigMap's data.")


class SecretRef(KubeModel):
    """A Secret in the SandboxEnvironment's own namespace: a name only, so no other namespace can be named."""

    name: str = Field(min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN, description="Secret name.")


class S3ObjectRef(KubeModel):
    """An object in an S3-compatible bucket."""

    bucket: str = Field(min_length=3, max_length=63, pattern=BUCKET, description="Bucket name.")
    key: str = Field(min_length=1, max_length=1024, description="Object key.")
    region: str | None = Field(default=None, max_length=64, description="Bucket region.")
    endpointUrl: str | None = Field(
        default=None, pattern=HTTP_URL, max_length=2048, alias="endpointUrl",
        description="Endpoint of an S3-compatible store other than AWS; must be one the SandboxTenant "
                    "(spec.allowedSources.s3Endpoints) or the platform allows.",
    )
    secretRef: SecretRef | None = Field(
        default=None, alias="secretRef",
        description="Secret in the SandboxEnvironment's own namespace with AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if temporary) to read the object with. "
                    "Without it: the role the platform maps to the tenant, or the operator's own "
                    "credentials if the platform opted the tenant in (SandboxTenant spec.s3Credentials).",
    )


class OpenAPISource(KubeModel):
    """Where a downstream's OpenAPI document comes from: exactly one of the three."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_one_of("configMap", "url", "s3")]})

    configMap: ConfigMapKeyRef | None = Field(default=None, alias="configMap", description="ConfigMap in the sandbox's namespace.")
    url: str | None = Field(default=None, pattern=HTTP_URL, max_length=2048, description="http(s) URL of the document.")
    s3: S3ObjectRef | None = Field(default=None, description="Object in an S3-compatible bucket.")

    @model_validator(mode="after")
    def _exactly_one(self) -> OpenAPISource:
        _check_one_of(self, "configMap", "url", "s3")
        return self


class GraphQLSource(OpenAPISource):
    """Where a downstream's GraphQL schema comes from (SDL, or an introspection result as JSON):
    exactly one of the three."""


#: How a downstream's stub follows a new version of its spec (docs/drift.md).
SyncPolicy = Literal["Auto", "Manual", "BlockBreaking"]


class Downstream(KubeModel):
    """A service the app calls, replaced by a Sandlot stub serving its OpenAPI document or GraphQL schema."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_one_of("openapi", "graphql")]})

    name: str = Field(min_length=1, max_length=40, pattern=DNS1123_LABEL,
                      description="Short DNS-1123 name; the stub's Service is stub-<name>.")
    openapi: OpenAPISource | None = Field(default=None, description="The downstream's OpenAPI 3.x document.")
    graphql: GraphQLSource | None = Field(
        default=None, description="The downstream's GraphQL schema (SDL or introspection JSON), instead of openapi; "
                                  "served at /graphql.")
    envVar: str = Field(pattern=ENV_VAR_NAME, max_length=128, alias="envVar",
                        description="Env var through which the app finds the stub's base URL.")
    stateful: bool = Field(default=True, description="Remember created objects per tenant (false: pure mock).")
    scenario: str | None = Field(default=None, max_length=63, pattern=r"^[a-z0-9_]+$",
                                 description="Scenario applied to every request unless one is asked for.")
    lenient: bool = Field(default=False, description=(
        "Accept what server frameworks coerce (\"3\" for an integer, \"true\" for a boolean, one value for an "
        "array), as a lenient production server does; each coercion is named in a Sandlot-Warning header."))
    syncPolicy: SyncPolicy = Field(default="Auto", alias="syncPolicy", description=(
        "How the stub follows a new version of the spec at its source (a ConfigMap is watched, a url or s3 "
        "object polled): Auto serves every new version; BlockBreaking serves it unless it breaks the served "
        "one, which waits until accepted with the annotation sandlot.dev/accept-spec-<name>=<digest>; Manual "
        "serves no new version until accepted so. The stub keeps its stateful data either way."))

    @model_validator(mode="after")
    def _one_description(self) -> Downstream:
        _check_one_of(self, "openapi", "graphql")
        return self

    @property
    def source(self) -> OpenAPISource:
        """Return where the downstream's API description comes from (its openapi or graphql source)."""
        found = self.openapi or self.graphql
        assert found is not None  # the validator above
        return found

    @property
    def source_field(self) -> str:
        """Return the field naming the source: `openapi` or `graphql`."""
        return "graphql" if self.graphql is not None else "openapi"


class FixturesSource(KubeModel):
    """Seed fixtures: exactly one of a ConfigMap key or an S3 object."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_one_of("configMap", "s3")]})

    configMap: ConfigMapKeyRef | None = Field(default=None, alias="configMap")
    s3: S3ObjectRef | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> FixturesSource:
        _check_one_of(self, "configMap", "s3")
        return self


class SeedJob(KubeModel):
    """A Job run once in the sandbox after the stubs are up, to seed the app's own data."""

    image: str = Field(min_length=1, max_length=512, pattern=r"^[^\s]+$", description="Image of the seed Job.")
    command: list[str] | None = Field(default=None, max_length=50)
    args: list[str] | None = Field(default=None, max_length=100)
    backoffLimit: int = Field(default=2, ge=0, le=10, alias="backoffLimit", description="Retries before the Job fails.")


class Seed(KubeModel):
    """Seeded data for the sandbox."""

    fixtures: FixturesSource | None = Field(default=None, description="Fixtures loaded into every stateful stub.")
    job: SeedJob | None = Field(default=None, description="Optional seed Job.")


class Quota(KubeModel):
    """What the sandbox namespace may use at most; defaults are sane for one small app."""

    cpu: Quantity = Field(default="4", description="Total CPU limits in the namespace.")
    memory: Quantity = Field(default="8Gi", description="Total memory limits in the namespace.")
    pods: int = Field(default=20, ge=1, le=500, description="Pods at most.")
    containerCpu: Quantity = Field(default="500m", alias="containerCpu",
                                   description="Default CPU limit of a container that sets none.")
    containerMemory: Quantity = Field(default="512Mi", alias="containerMemory",
                                      description="Default memory limit of a container that sets none.")


class EgressPort(KubeModel):
    """A port that egress may reach."""

    port: Port
    protocol: Literal["TCP", "UDP"] = "TCP"


class EgressRule(KubeModel):
    """Egress beyond the sandbox that the team allows explicitly."""

    cidr: str = Field(pattern=CIDR, max_length=64, description="Destination CIDR, e.g. 203.0.113.0/24.")
    ports: list[EgressPort] = Field(default_factory=list, max_length=20,
                                    description="Ports allowed; all ports when empty.")
    description: str | None = Field(default=None, max_length=256, description="Why this egress is needed.")


class Network(KubeModel):
    """Network isolation: nothing leaves the sandbox except DNS and what is listed here."""

    egress: list[EgressRule] = Field(default_factory=list, max_length=20,
                                     description="Extra egress allowed; none by default.")


class SandboxEnvironmentSpec(KubeModel):
    """What a team asks for: its app, stubbed downstreams, seed data, lifetime and limits."""

    app: App
    downstreams: list[Downstream] = Field(
        default_factory=list, max_length=20,
        json_schema_extra={"x-kubernetes-validations": [{
            "rule": "self.all(d, self.exists_one(e, e.name == d.name))",
            "message": "downstream names must be unique",
        }, {
            "rule": "self.all(d, self.exists_one(e, e.envVar == d.envVar))",
            "message": "downstream envVar values must be unique",
        }]},
    )
    seed: Seed | None = None
    ttl: str | None = Field(
        default=None, pattern=TTL_PATTERN,
        description="Lifetime from admission (creation when it never waited): minutes, hours or days, "
                    "e.g. 90m, 72h, 7d. Unset: the tenant's defaultTtl, else 24h.")
    onExpiry: Literal["Delete", "Retain"] = Field(
        default="Delete", alias="onExpiry",
        description="Delete: remove the CR at expiry. Retain: tear down but keep the CR in phase Expired (GitOps).",
    )
    tenant: str = Field(default="default", min_length=1, max_length=63, pattern=DNS1123_LABEL,
                        description="Tenant that owns the sandbox (a SandboxTenant name).")
    priority: str | None = Field(
        default=None, max_length=63, pattern=DNS1123_LABEL,
        description="One of the tenant's priority levels: higher levels leave the queue first.")
    quota: Quota = Field(default_factory=Quota, json_schema_extra={"default": {}})
    network: Network = Field(default_factory=Network, json_schema_extra={"default": {}})

    @model_validator(mode="after")
    def _unique_downstreams(self) -> SandboxEnvironmentSpec:
        for attr in ("name", "envVar"):
            seen: set[str] = set()
            for i, d in enumerate(self.downstreams):
                value = getattr(d, attr)
                if value in seen:
                    raise ValueError(f"downstreams[{i}].{attr} {value!r} is used twice; each must be unique")
                seen.add(value)
        return self


class Condition(KubeModel):
    """A Kubernetes-style condition a person can act on."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    lastTransitionTime: str | None = Field(default=None, alias="lastTransitionTime")
    observedGeneration: int | None = Field(default=None, alias="observedGeneration")


Phase = Literal["Pending", "Queued", "Provisioning", "Ready", "Sleeping", "Failed", "Terminating", "Expired"]


class SpecBreak(KubeModel):
    """A version of a downstream's spec that breaks the one before it, not accepted yet."""

    digest: str = Field(description="The breaking version (served under syncPolicy Auto, else held).")
    previous: str = Field(description="The version it breaks.")
    errors: int = Field(description="How many of its changes break clients (level error).")
    summary: str = Field(description="The changes, by `sandlot diff`'s engine: breaking ones first.")
    held: bool = Field(default=False, description="True when it is not served (BlockBreaking or Manual).")


class SpecSync(KubeModel):
    """How a downstream's stub follows its spec (status.specs[<downstream name>])."""

    source: str = Field(description="Where the spec is read: the ConfigMap and key, the URL or the S3 object.")
    digest: str = Field(description="The version the stub serves: the first 16 hex digits of its SHA-256.")
    syncedAt: str = Field(alias="syncedAt", description="When the stub was given that version.")
    sourceDigest: str = Field(alias="sourceDigest", description="The version the source held when last read.")
    state: Literal["Synced", "Held", "Invalid", "Unreadable"] = Field(description=(
        "Synced: the stub serves what the source holds. Held: the source's version waits for acceptance. "
        "Invalid: the source's version cannot be served. Unreadable: the source cannot be read now. The "
        "stub keeps serving `digest` in all but Synced."))
    message: str = Field(default="", description="What is held, invalid or unreadable, and what to do.")
    etag: str | None = Field(default=None, description="The url or s3 source's ETag when last read (sent back "
                                                        "as If-None-Match).")
    lastModified: str | None = Field(default=None, alias="lastModified",
                                     description="The url source's Last-Modified when last read (sent back as "
                                                 "If-Modified-Since).")
    breaking: SpecBreak | None = Field(default=None, description="A breaking change not accepted yet.")


class SandboxEnvironmentStatus(KubeModel):
    """What the operator reports."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})

    phase: Phase | None = None
    namespace: str | None = None
    endpoints: dict[str, str] | None = None
    credentialsSecret: str | None = Field(default=None, alias="credentialsSecret")
    expiresAt: str | None = Field(default=None, alias="expiresAt")
    observedGeneration: int | None = Field(default=None, alias="observedGeneration")
    firstReadyAt: str | None = Field(default=None, alias="firstReadyAt",
                                     description="When the sandbox first became Ready.")
    queuePosition: int | None = Field(default=None, alias="queuePosition",
                                      description="Place in the tenant's queue (1 leaves next) while Queued.")
    admittedAt: str | None = Field(default=None, alias="admittedAt",
                                   description="When the tenant first admitted it; the ttl counts from here.")
    sleepingSince: str | None = Field(default=None, alias="sleepingSince",
                                      description="When it was put to sleep (idle); unset while awake.")
    wakeRequestedAt: str | None = Field(default=None, alias="wakeRequestedAt",
                                        description="When a wake was asked for (its place in the queue).")
    restorePending: list[str] | None = Field(
        default=None, alias="restorePending",
        description="Stateful stubs whose state, kept while asleep, is still to be put back.")
    conditions: list[Condition] | None = None
    specs: dict[str, SpecSync] | None = Field(default=None, description=(
        "Per downstream: the version of its spec the stub serves and how it follows the source "
        "(conditions SpecSynced and SpecDrift sum them up)."))


class S3Prefix(KubeModel):
    """Objects of one bucket under a key prefix."""

    bucket: str = Field(min_length=3, max_length=63, pattern=BUCKET, description="Bucket name.")
    prefix: str = Field(default="", max_length=1024, description="Key prefix; empty means the whole bucket.")


class AllowedSources(KubeModel):
    """Where a tenant's sandboxes may read OpenAPI documents and fixtures from (besides ConfigMaps)."""

    urls: list[Annotated[str, Field(pattern=HTTP_URL, max_length=2048)]] = Field(
        default_factory=list, max_length=50,
        description="URL prefixes (scheme, host, port and path prefix), e.g. https://specs.acme.example/payments/.",
    )
    s3: list[S3Prefix] = Field(default_factory=list, max_length=50, description="S3 bucket/prefix pairs.")
    s3Endpoints: list[Annotated[str, Field(pattern=HTTP_URL, max_length=2048)]] = Field(
        default_factory=list, alias="s3Endpoints", max_length=20,
        description="S3-compatible endpoints (exact URLs) an s3 source's endpointUrl may name.",
    )


class TenantS3Credentials(KubeModel):
    """Which credentials read a tenant's S3 sources that name no secretRef of their own."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [{
        "rule": "!(has(self.roleArn) && has(self.useOperatorCredentials) && self.useOperatorCredentials)",
        "message": "set roleArn or useOperatorCredentials, not both",
    }]})

    roleArn: str | None = Field(
        default=None, pattern=ROLE_ARN, max_length=2048, alias="roleArn",
        description="IAM role the operator assumes (STS AssumeRole) to read this tenant's S3 sources.",
    )
    useOperatorCredentials: bool = Field(
        default=False, alias="useOperatorCredentials",
        description="Read this tenant's S3 sources with the operator's own credentials; only objects under "
                    "allowedSources.s3 (or the platform's list) are read this way.",
    )

    @model_validator(mode="after")
    def _not_both(self) -> TenantS3Credentials:
        if self.roleArn and self.useOperatorCredentials:
            raise ValueError("set roleArn or useOperatorCredentials, not both")
        return self


class Budget(KubeModel):
    """Resources a tenant's active sandboxes may reserve together: the sum of their spec.quota."""

    cpu: Quantity | None = Field(default=None, description="Sum of spec.quota.cpu; unset: no limit.")
    memory: Quantity | None = Field(default=None, description="Sum of spec.quota.memory; unset: no limit.")
    pods: int | None = Field(default=None, ge=1, le=1000000, description="Sum of spec.quota.pods; unset: no limit.")


class PriorityLevel(KubeModel):
    """A named priority a sandbox may ask for (`spec.priority`)."""

    name: str = Field(min_length=1, max_length=63, pattern=DNS1123_LABEL, description="What sandboxes name.")
    value: int = Field(ge=-1000000, le=1000000, description="Higher values leave the queue first.")
    description: str | None = Field(default=None, max_length=256, description="Who should use it.")


class SandboxTenantSpec(KubeModel):
    """What the platform team grants a tenant."""

    namespaces: list[Annotated[str, Field(pattern=DNS1123_LABEL, max_length=63)]] = Field(
        default_factory=list, max_length=200,
        description="Namespaces whose SandboxEnvironments belong to this tenant; empty means any.",
    )
    maxSandboxes: int = Field(default=10, ge=0, le=1000, alias="maxSandboxes",
                              description="Active sandboxes at once (sleeping ones do not count).")
    maxTtl: str = Field(default="7d", pattern=TTL_PATTERN, alias="maxTtl", description="Longest ttl allowed.")
    defaultQuota: Quota | None = Field(default=None, alias="defaultQuota",
                                       description="Quota for sandboxes that set none.")
    allowedRegistries: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list, alias="allowedRegistries", max_length=50,
        description="Image prefixes allowed for every image a sandbox runs (app and seed Job), matched on "
                    "the full name (docker.io/library/nginx for nginx), e.g. ghcr.io/acme/; empty means any.",
    )
    allowedSources: AllowedSources | None = Field(
        default=None, alias="allowedSources",
        description="Where url and s3 sources may point; unset means any public URL, and S3 only with the "
                    "sandbox's own credentials. Set, nothing outside it (and the platform's lists) is read.",
    )
    s3Credentials: TenantS3Credentials | None = Field(
        default=None, alias="s3Credentials",
        description="Credentials for S3 sources that name no secretRef: a mapped role, or the operator's own.",
    )
    overflow: Literal["Queue", "Reject"] = Field(
        default="Queue",
        description="What happens to a sandbox beyond maxSandboxes or the budget: it waits in the "
                    "tenant's queue (Queue), or is refused at once (Reject).")
    maxQueued: int = Field(default=100, ge=0, le=1000, alias="maxQueued",
                           description="Sandboxes that may wait at once; one more is refused (QueueFull).")
    budget: Budget | None = Field(default=None, description="Resources the active sandboxes may reserve together.")
    priorities: list[PriorityLevel] = Field(
        default_factory=list, max_length=20,
        description="Priority levels sandboxes may name; higher first, first come first within a level.",
        json_schema_extra={"x-kubernetes-validations": [{
            "rule": "self.all(p, self.exists_one(q, q.name == p.name))",
            "message": "priority level names must be unique",
        }]},
    )
    defaultPriority: str | None = Field(default=None, alias="defaultPriority", max_length=63,
                                        pattern=DNS1123_LABEL,
                                        description="Level of sandboxes that name none (else value 0).")
    defaultTtl: str | None = Field(default=None, alias="defaultTtl", pattern=TTL_PATTERN,
                                   description="ttl of sandboxes that set none (else 24h); at most maxTtl.")
    idleAfter: str | None = Field(
        default=None, alias="idleAfter", pattern=DURATION_PATTERN,
        description="Put a sandbox to sleep after this long with no request reaching its stubs, e.g. 30m; "
                    "unset: never.")
    maxLifetime: str | None = Field(
        default=None, alias="maxLifetime", pattern=DURATION_PATTERN,
        description="Hard limit from creation, time queued and asleep included, whatever the ttl, e.g. 14d.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [{
        "rule": "!has(self.defaultPriority) || (has(self.priorities) && "
                "self.priorities.exists(p, p.name == self.defaultPriority))",
        "message": "defaultPriority must name one of spec.priorities",
    }]})

    @model_validator(mode="after")
    def _consistent(self) -> SandboxTenantSpec:
        names = [p.name for p in self.priorities]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"priorities: the level name {name!r} is used twice; each must be unique")
        if self.defaultPriority is not None and self.defaultPriority not in names:
            raise ValueError(f"defaultPriority: {self.defaultPriority!r} is not one of spec.priorities "
                             f"({', '.join(names) or 'none defined'})")
        if self.defaultTtl is not None:
            if parse_duration(self.defaultTtl) > parse_duration(self.maxTtl):
                raise ValueError(f"defaultTtl: {self.defaultTtl} is longer than maxTtl {self.maxTtl}; "
                                 "lower defaultTtl or raise maxTtl")
        return self


class AdmittedEntry(KubeModel):
    """One sandbox the tenant has admitted: the admission ledger's record of it."""

    sandbox: str = Field(description="namespace/name of the SandboxEnvironment.")
    uid: str
    admittedAt: str = Field(alias="admittedAt")
    priority: int = 0
    cpu: str = Field(description="Its spec.quota.cpu, counted against the budget.")
    memory: str
    pods: int


class QueueEntry(KubeModel):
    """One sandbox waiting in the tenant's queue, in order."""

    sandbox: str
    uid: str
    priority: int = 0


class BudgetUsed(KubeModel):
    """The sum of the active sandboxes' quotas."""

    cpu: str = "0"
    memory: str = "0"
    pods: int = 0


class SandboxTenantStatus(KubeModel):
    """How much of its grant a tenant uses, and the admission ledger (admitted, queue): operator-written."""

    # `admitted` and `queue` are the ledger: the operator writes them with optimistic concurrency
    # on the tenant's resourceVersion, so the admitted set is kept in the API server.

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})

    active: int | None = Field(default=None, description="Admitted, awake sandboxes.")
    queued: int | None = Field(default=None, description="Sandboxes waiting for admission.")
    sleeping: int | None = Field(default=None, description="Sandboxes asleep (not counted as active).")
    budgetUsed: BudgetUsed | None = Field(default=None, alias="budgetUsed")
    waitingFor: str | None = Field(default=None, alias="waitingFor",
                                   description="What the first sandbox in the queue waits for.")
    admitted: list[AdmittedEntry] | None = None
    queue: list[QueueEntry] | None = None


class SandboxEnvironment(KubeModel):
    """A namespaced request for one isolated sandbox."""

    apiVersion: Literal["sandlot.dev/v1alpha1"] = Field(default="sandlot.dev/v1alpha1", alias="apiVersion")
    kind: Literal["SandboxEnvironment"] = "SandboxEnvironment"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: SandboxEnvironmentSpec
    status: SandboxEnvironmentStatus | None = None


class SandboxTenant(KubeModel):
    """A cluster-scoped tenant, owned by the platform team."""

    apiVersion: Literal["sandlot.dev/v1alpha1"] = Field(default="sandlot.dev/v1alpha1", alias="apiVersion")
    kind: Literal["SandboxTenant"] = "SandboxTenant"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: SandboxTenantSpec = Field(default_factory=SandboxTenantSpec)
    status: SandboxTenantStatus | None = None
