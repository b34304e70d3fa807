"""The code location as a person loads it from the command line: `dagster` with the workspace,
and `dg` with the project's settings, each in a process of its own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from covid_assets_dev.local_stack import PROJECT_ROOT

pytestmark = pytest.mark.system


@pytest.mark.parametrize(
    "command",
    [
        ["dagster", "definitions", "validate", "-w", "workspace.yaml"],
        ["dg", "check", "defs"],
    ],
    ids=["dagster-workspace", "dg-project"],
)
def test_code_location_loads_from_the_command_line_without_warnings(command, tmp_path):
    bin_dir = Path(sys.executable).parent
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "VIRTUAL_ENV": str(bin_dir.parent),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        [str(bin_dir / command[0]), *command[1:]],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "mismatch" not in output.lower(), output
