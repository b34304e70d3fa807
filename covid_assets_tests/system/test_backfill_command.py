"""The README's headless backfill, the one command a user runs: ``dagster job execute`` of the code
location with a config file, on three real national versions, against the emulator."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from covid_assets_dev.local_stack import PROJECT_ROOT, prepare_dagster_home
from covid_assets_tests.helpers import README, stored_days

pytestmark = pytest.mark.system

COMMAND = re.compile(r"^\.venv/bin/(dagster job execute .* -c) backfill\.yaml$", re.MULTILINE)


def test_the_readmes_headless_backfill_command_serves_the_newest_version(
    aws, snapshots_dir, tmp_path, monkeypatch
):
    history = snapshots_dir.parent / "history" / "nyt-us"
    manifest = tmp_path / "MANIFEST.csv"
    lines = (history / "MANIFEST.csv").read_text().splitlines()[:4]
    manifest.write_text("".join(",".join(line.split(",")[:3]) + "\n" for line in lines))
    config = tmp_path / "backfill.yaml"
    config.write_text(
        "ops:\n  backfill_history:\n    config:\n      table: national\n"
        f"      manifest: {manifest}\n      file_url: {history}/{{run_day}}.csv\n"
        f"      jhu_url: {snapshots_dir}/2021-03-17/jhu-combined.csv\n"
        '      jhu_published: "2020-04-01T00:00:00Z"\n'
    )
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    prepare_dagster_home()
    [command] = COMMAND.findall(README.read_text())
    executable, *arguments = command.split()
    result = subprocess.run(
        [str(Path(sys.executable).parent / executable), *arguments, str(config)],
        cwd=PROJECT_ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "version 3 / 3 (2020-04-18)" in result.stderr
    assert len(stored_days(aws)) == 86
