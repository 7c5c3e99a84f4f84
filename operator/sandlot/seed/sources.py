"""Read fixtures (or any seed document) from where a SandboxEnvironment says they live.

Called by `sandlot up` and the stub's start-up: a local file, a ConfigMap found among
manifests, or an S3 object read through a boto3 client the caller passes in (so tests point
it at moto's server and production at AWS, and credentials stay the caller's business).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


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
            data = doc.get("data") or {}
            if key not in data:
                raise SourceError(f"ConfigMap {name!r} in {where} has no key {key!r} "
                                  f"(keys: {', '.join(sorted(data)) or 'none'})")
            return str(data[key])
    raise SourceError(f"no ConfigMap named {name!r} in {where} (found: "
                      f"{', '.join(str(n) for n in names) or 'none'}); add it as another YAML "
                      f"document in the same file or directory")


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
