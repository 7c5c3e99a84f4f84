"""The command line refuses bad input with a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sandlot import __version__
from sandlot.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"sandlot {__version__}"


@pytest.mark.parametrize("argv, message", [
    (["mock", "spec.yaml", "--port", "70000"], "70000 is not a port number: use 1-65535"),
    (["mock", "spec.yaml", "--port", "http"], "'http' is not a port number"),
    (["mock", "spec.yaml", "--log-level", "loud"], "invalid choice: 'loud'"),
    (["operator", "--metrics-port", "0"], "0 is not a port number"),
])
def test_bad_options_are_refused_naming_the_problem(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_option_shows_the_sub_command_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["mock", "spec.yaml", "--bogus"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith("usage: sandlot mock") and "unrecognized arguments: --bogus" in err


def test_operator_without_a_cluster_exits_with_the_fix(tmp_path):
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "nope")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    proc = subprocess.run([sys.executable, "-m", "sandlot.cli", "operator"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert str(tmp_path / "nope") in proc.stderr and "set KUBECONFIG" in proc.stderr
    assert "Traceback" not in proc.stderr
