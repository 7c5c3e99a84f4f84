"""The data plane's one reader of what a SandboxEnvironment points at: a local file, a key of a
ConfigMap among parsed manifests, an http(s) URL, or an S3 object.

Called by `sandlot up` (OpenAPI documents and fixtures its manifest names), `sandlot mock`
(a SPEC or --fixtures that is a ConfigMap manifest) and the stateful stub's start-up. Every
failure is a `SourceError` that names the source and the fix. The operator's reader
(controller/sources.py) reads ConfigMaps through the API and applies the tenant's grant, and
shares the rest with this module: URLs are read by the one guarded fetch (util/netguard.py;
here with every address open, since `sandlot up` runs with its user's own reach), S3 clients
come from `s3_client`, and its SourceError is this one, with a condition reason.

S3 is read through a boto3 client the caller may pass in, so tests point it at moto's server
and production at AWS, and credentials stay the caller's business.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from sandlot.util import netguard

#: A cheap test before parsing: a ConfigMap manifest says so at its top level.
_CONFIGMAP_KIND = re.compile(r'^(kind:\s*["\']?ConfigMap["\']?\s*$|\{?\s*"kind"\s*:\s*"ConfigMap")',
                             re.MULTILINE)
#: How long a URL source may take to answer, in seconds.
URL_TIMEOUT_SECONDS = 20.0


class SourceError(LookupError):
    """A source that cannot be read: says which one and how to fix it.

    `reason` is a condition reason for the operator's status (`ConfigMapNotFound` ...).
    """

    def __init__(self, message: str, reason: str = "SourceUnreadable") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class ConfigMapRef(Protocol):
    """A key of a ConfigMap (the CRD's `configMap: {name, key}`)."""

    @property
    def name(self) -> str: ...
    @property
    def key(self) -> str: ...


class S3Ref(Protocol):
    """An S3 object (the CRD's `s3: {bucket, key, region, endpointUrl}`)."""

    @property
    def bucket(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def endpointUrl(self) -> str | None: ...  # noqa: N802 - the CRD's field name


class SourceRef(Protocol):
    """Where a document lives: exactly one of configMap, url and s3 is set (api/v1alpha1.py)."""

    @property
    def configMap(self) -> ConfigMapRef | None: ...  # noqa: N802 - the CRD's field name
    @property
    def s3(self) -> S3Ref | None: ...


S3ClientFactory = Callable[[str | None, str | None], Any]


def read_file(path: str | Path) -> str:
    """Return a local file's text."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SourceError(f"cannot read {path}: {reason}") from None


#: The largest document a URL source may serve (GitHub's spec is 13 MB).
MAX_URL_BYTES = 64 << 20


def read_url(url: str, timeout: float = URL_TIMEOUT_SECONDS) -> str:
    """Return the text served at an http(s) URL (through the one fetch, open to every address)."""
    if not url.startswith(("http://", "https://")):
        raise SourceError(f"{url!r} is not an http(s) URL")
    try:
        body = netguard.fetch(url, netguard.USER_REACH, timeout=timeout, max_bytes=MAX_URL_BYTES)
    except netguard.FetchError as exc:
        raise SourceError(f"cannot fetch {exc.message}; check that the URL is reachable") from None
    return body.decode("utf-8", "replace")


def read_configmap(manifests: Iterable[Mapping[str, Any]], name: str, key: str,
                   where: str = "the manifests") -> str:
    """Return `data[key]` of the ConfigMap called `name` among parsed manifests."""
    names = []
    for doc in manifests:
        if not isinstance(doc, Mapping) or doc.get("kind") != "ConfigMap":
            continue
        doc_name = (doc.get("metadata") or {}).get("name")
        names.append(doc_name)
        if doc_name == name:
            return configmap_value(doc, key, where)
    raise SourceError(f"no ConfigMap named {name!r} in {where} (found: "
                      f"{', '.join(str(n) for n in names) or 'none'}); add it as another YAML "
                      f"document in the same file or directory")


def configmap_value(doc: Mapping[str, Any], key: str, where: str) -> str:
    """Return `data[key]` of a parsed ConfigMap; the error lists the keys it has."""
    data = doc.get("data") or {}
    if key not in data:
        name = (doc.get("metadata") or {}).get("name")
        raise SourceError(f"ConfigMap {name!r} in {where} has no key {key!r} "
                          f"(keys: {', '.join(sorted(data)) or 'none'})")
    return str(data[key])


def configmap_payload(text: str, filename: str | Path) -> tuple[str, str] | None:
    """Return (key, content) when `text` is a single ConfigMap manifest, else None.

    The content is the ConfigMap's only data key, else the key named like the file
    (`payments-openapi.yaml` holds `openapi.yaml`). Lets `sandlot mock` take the manifests a
    team `kubectl apply`s, as `sandlot up` does; an ambiguous one raises SourceError."""
    if not _CONFIGMAP_KIND.search(text[:65536]):
        return None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return None  # not a manifest after all; the caller's own parser reports it
    if len(docs) != 1 or not isinstance(docs[0], dict) or docs[0].get("kind") != "ConfigMap":
        return None
    data = docs[0].get("data") or {}
    base = Path(filename).name
    keys = [k for k in data if k == base] or [k for k in data if base.endswith(str(k))] \
        or list(data)
    if len(keys) != 1:
        raise SourceError(
            f"{filename} is a ConfigMap (data keys: {', '.join(map(str, data)) or 'none'}); "
            f"pass the key's content as a file of its own, or use `sandlot up` with a manifest "
            f"that names the key")
    return str(keys[0]), configmap_value(docs[0], str(keys[0]), str(filename))


def read_file_or_configmap(path: str) -> tuple[str, str | None]:
    """Return (text, ConfigMap key or None): a file's text, or the payload of the ConfigMap
    manifest it holds (`sandlot mock --fixtures`, a SPEC given as a manifest)."""
    text = read_file(path)
    payload = configmap_payload(text, path)
    return (payload[1], payload[0]) if payload else (text, None)


def read_s3(client: Any, bucket: str, key: str) -> str:
    """Return the text of s3://bucket/key, read with the given boto3 S3 client."""
    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except Exception as exc:  # noqa: BLE001 - botocore's ClientError and connection errors alike
        raise SourceError(f"cannot read s3://{bucket}/{key}: {exc}") from None
    return bytes(response["Body"].read()).decode("utf-8")


def s3_client(region: str | None = None, endpoint_url: str | None = None, *,
              credentials: Mapping[str, str] | None = None, timeout: float | None = None) -> Any:
    """Create a boto3 S3 client for a source: the one place S3 clients are made.

    `credentials` are boto3's keyword arguments (`aws_access_key_id` ...); without them boto3's
    usual chain applies (the environment, a profile, an instance role). `timeout` bounds the
    connection and each read, with one retry.
    """
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2}) if timeout else None
    return boto3.client("s3", region_name=region or "us-east-1", endpoint_url=endpoint_url, config=config,
                        **dict(credentials or {}))


def read_source(source: SourceRef, manifests: Iterable[Mapping[str, Any]], where: str, *,
                make_s3_client: S3ClientFactory = s3_client) -> str:
    """Return the text a source names: a ConfigMap among `manifests`, its URL, or an S3 object."""
    if source.configMap is not None:
        return read_configmap(manifests, source.configMap.name, source.configMap.key, where)
    url = getattr(source, "url", None)
    if url is not None:
        return read_url(str(url))
    s3 = source.s3
    if s3 is None:
        raise SourceError(f"{where}: the source names no configMap, url or s3; give one of them")
    return read_s3(make_s3_client(s3.region, s3.endpointUrl), s3.bucket, s3.key)
