"""How the chart tests and e2e find helm/kubectl, and what they say when they cannot."""

from __future__ import annotations

import pytest
from cluster_tools import ToolUnavailable, find_tool


def test_explicit_path_that_is_not_executable_is_refused(tmp_path, monkeypatch):
    bogus = tmp_path / "helm"
    bogus.write_text("not a program")
    monkeypatch.setenv("SANDLOT_HELM", str(bogus))
    with pytest.raises(ToolUnavailable, match="SANDLOT_HELM=.* is not an executable file"):
        find_tool("helm", tmp_path / "cache")


def test_explicit_executable_wins(tmp_path, monkeypatch):
    program = tmp_path / "kubectl"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("SANDLOT_KUBECTL", str(program))
    assert find_tool("kubectl", tmp_path / "cache") == program


def test_cached_copy_is_used_before_npm(tmp_path, monkeypatch):
    monkeypatch.delenv("SANDLOT_HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    cached = tmp_path / "cache" / "helm"
    cached.parent.mkdir()
    cached.write_text("#!/bin/sh\n")
    cached.chmod(0o755)
    assert find_tool("helm", tmp_path / "cache") == cached


def test_without_tool_or_npm_the_reason_names_both(tmp_path, monkeypatch):
    monkeypatch.delenv("SANDLOT_HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    with pytest.raises(ToolUnavailable, match="no helm on PATH and npm is not installed"):
        find_tool("helm", tmp_path / "cache")


def test_unknown_tool_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="unknown tool 'kind'"):
        find_tool("kind", tmp_path)
