"""The project's definitions plus a job of the county level alone (its source, the state file it
is held to, its table, load and export), for the county-scale next day run as a whole process
(and for the first load with every level, a run of every asset whose calls are counted).
With COVID_BENCH_CALLS_FILE set, the process counts its AWS calls and writes them there at
exit (``CallCounts``), since its calls cannot be recorded from the benchmark's process."""

import atexit
import json
import os
from contextlib import ExitStack
from pathlib import Path

from dagster import AssetSelection, Definitions, define_asset_job

from covid_assets.code_location import defs as project_defs
from covid_assets.domain.tables import COUNTY, STATE
from covid_assets_bench.county_scale import CALLS_FILE_SETTING, COUNTY_LEVEL_JOB
from covid_assets_dev.aws_calls import CallCounts, on_every_aws_call

if calls_file := os.environ.get(CALLS_FILE_SETTING):
    counts = CallCounts()
    # Entered for the whole process, and never left: the stack lives as long as the module.
    recording = ExitStack()
    recording.enter_context(on_every_aws_call(counts.count))
    atexit.register(lambda: Path(calls_file).write_text(json.dumps(counts.as_json())))

defs = Definitions.merge(
    project_defs,
    Definitions(
        jobs=[
            define_asset_job(
                COUNTY_LEVEL_JOB,
                selection=AssetSelection.assets(
                    COUNTY.source.asset, STATE.source.asset, *COUNTY.assets
                ),
            )
        ]
    ),
)
