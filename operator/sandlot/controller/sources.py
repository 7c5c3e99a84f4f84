"""Fetch what a sandbox ships into its namespace: OpenAPI documents and seed fixtures.

Side effects at the edge: reads ConfigMaps of the CR's namespace, http(s) URLs and S3
objects. Every failure becomes a SourceError naming the CR field and the fix.
"""

from __future__ import annotations

import posixpath
import urllib.error
import urllib.request
from typing import Any

from sandlot.kube import Kube
from sandlot.reconcile.desired import Document

#: ConfigMaps hold at most 1 MiB; the stub reads the document from one.
MAX_DOCUMENT_BYTES = 1024 * 1024 - 4096


class SourceError(Exception):
    """A source named in the spec cannot be read; `reason` is a condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _filename(key: str, default: str) -> str:
    """Return a file name for a document, keeping the extension that tells JSON from YAML."""
    base = posixpath.basename(key.split("?", 1)[0]) or default
    return base if base.endswith((".json", ".yaml", ".yml")) else default


def _from_configmap(kube: Kube, namespace: str, ref: Any, field: str) -> Document:
    """Return a key of a ConfigMap in the CR's namespace."""
    cm = kube.get("v1", "ConfigMap", ref.name, namespace)
    if cm is None:
        raise SourceError("ConfigMapNotFound",
                          f"{field}.configMap: ConfigMap {ref.name!r} not found in namespace {namespace!r}; "
                          f"create it (kubectl create configmap {ref.name} -n {namespace} "
                          f"--from-file={ref.key}=PATH) or fix the name")
    data = cm.get("data") or {}
    if ref.key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise SourceError("ConfigMapKeyNotFound",
                          f"{field}.configMap: ConfigMap {ref.name!r} has no key {ref.key!r} (keys: {keys}); "
                          "fix the key or add it to the ConfigMap")
    return Document(_filename(ref.key, "openapi.yaml"), data[ref.key])


def _from_url(url: str, field: str, timeout: float) -> Document:
    """Return the document served at an http(s) URL."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (http(s) only, by schema)
            body = resp.read(MAX_DOCUMENT_BYTES + 1)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise SourceError("SpecURLUnreachable",
                          f"{field}.url: cannot fetch {url} ({exc}); check the URL is reachable from the "
                          "operator or ship the document in a ConfigMap") from exc
    if len(body) > MAX_DOCUMENT_BYTES:
        raise SourceError("SpecTooLarge", f"{field}.url: {url} is larger than 1 MiB, which a ConfigMap cannot "
                          "hold; serve a smaller document or split it")
    return Document(_filename(url, "openapi.yaml"), body.decode("utf-8", "replace"))


def _from_s3(ref: Any, field: str, s3_client: Any) -> Document:
    """Return an S3 object, read with a boto3 client passed in."""
    try:
        obj = s3_client.get_object(Bucket=ref.bucket, Key=ref.key)
        body = obj["Body"].read(MAX_DOCUMENT_BYTES + 1)
    except Exception as exc:  # boto3 raises many types; all mean the same to the user
        raise SourceError("S3ObjectUnreadable",
                          f"{field}.s3: cannot read s3://{ref.bucket}/{ref.key} ({exc}); check the bucket, "
                          "key and the operator's credentials") from exc
    if len(body) > MAX_DOCUMENT_BYTES:
        raise SourceError("SpecTooLarge", f"{field}.s3: s3://{ref.bucket}/{ref.key} is larger than 1 MiB")
    return Document(_filename(ref.key, "openapi.yaml"), body.decode("utf-8", "replace"))


def default_s3_client(ref: Any) -> Any:
    """Return a boto3 S3 client for `ref` (endpoint and region as the spec says)."""
    import boto3

    return boto3.client("s3", region_name=ref.region, endpoint_url=ref.endpointUrl)


def read_source(kube: Kube, namespace: str, source: Any, field: str, *, timeout: float = 20.0,
                s3_client_factory=default_s3_client) -> Document:
    """Return the document a source (configMap, url or s3) names."""
    if source.configMap is not None:
        return _from_configmap(kube, namespace, source.configMap, field)
    if getattr(source, "url", None) is not None:
        return _from_url(source.url, field, timeout)
    return _from_s3(source.s3, field, s3_client_factory(source.s3))
