"""``python -m covid_assets_bench``. The benchmark measures the national pipeline, so the levels
below the nation are off, and must be before ``covid_assets.definitions`` is first imported: that
module builds its definitions at import, and a scheduled run's worker is handed the job those
definitions hold."""

import os

from covid_assets.domain.tables import LEVELS

os.environ.update({level.source.url_setting: "" for level in LEVELS})

from covid_assets_bench.benchmark import main

main()
