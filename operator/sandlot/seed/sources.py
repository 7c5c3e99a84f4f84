"""Read fixtures (or any seed document) from where a SandboxEnvironment says they live.

Called by `sandlot up` and the stub's start-up: a local file, a ConfigMap found among
manifests, or an S3 object read through a boto3 client the caller passes in (so tests point
it at moto's server and production at AWS, and credentials stay the caller's business).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

#: A cheap test before parsing: a ConfigMap manifest says so at its top level.
_CONFIGMAP_KIND = re.compile(r'^(kind:\s*["\']?ConfigMap["\']?\s*$|\{?\s*"kind"\s*:\s*"ConfigMap")',
                             re.MULTILINE)


class SourceError(LookupError):
    """A seed source that cannot be read: says which one and how to fix it."""


def read_file(path: str | Path) -> str:
    """Return a local file's text."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None


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


def read_s3(client: Any, bucket: str, key: str) -> str:
    """Return the text of s3://bucket/key, read with the given boto3 S3 client."""
    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except Exception as exc:  # botocore's ClientError and connection errors alike
        raise SourceError(f"cannot read s3://{bucket}/{key}: {exc}") from None
    return response["Body"].read().decode("utf-8")


def s3_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """Create a boto3 S3 client for a source (credentials from the usual AWS environment)."""
    import boto3

    return boto3.client("s3", region_name=region or "us-east-1", endpoint_url=endpoint_url)
