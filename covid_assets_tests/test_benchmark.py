"""The benchmark keeps working: its quick mode runs every scenario against its own emulator and
prints the tables, the baseline ratio and the targets. (A measurement, not a timed test: the
figures themselves are not asserted here.)"""

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_prints_every_scenario_the_baseline_ratio_and_the_targets(snapshots_dir):
    finished = subprocess.run(
        [sys.executable, "-m", "covid_assets_bench", "--quick", "--snapshots", str(snapshots_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    output = finished.stdout
    for heading in (
        "import covid_assets.definitions:",
        "=== full load (snapshot 2021-03-14)",
        "=== next day (snapshot 2021-03-15)",
        "=== revision day (snapshot 2021-03-18)",
        "=== no-change day (snapshot 2021-03-18)",
        "AWS API calls",
        "DynamoDB items in write calls",
        "bytes downloaded",
        "wall time, seconds",
        "=== targets",
    ):
        assert heading in output, f"{heading!r} missing from:\n{output}"
    assert output.count("baseline ratio (pipeline/baseline AWS calls): ") == 4
    assert "the pipeline run FAILED" not in output
