"""The Dagster UI in a real browser, used the way a person uses it, and the daemon beside it.

One ``dg dev`` (webserver and daemon), as ``make run`` starts it, serves the whole module,
against the moto server and the real 2021-03-18 snapshot; headless Chromium from Debian, driven
by Playwright, opens it.
Screenshots go to ``test-artifacts/ui/`` (not committed). The freshness window
(COVID_FRESHNESS_HOURS) is Dagster's shortest, a minute, so that the daemon finds what is served
stale while the module runs: the UI marks it, and the alert sensor alerts once.
"""

import datetime as dt
import os
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from dagster import AssetCheckKey, AssetKey, DagsterInstance
from playwright.sync_api import BrowserContext, Locator, Page, expect, sync_playwright

from covid_assets.defs.dashboard.dashboard import DASHBOARD_KEY
from covid_assets.defs.serving.served_check import SERVED_CHECK
from covid_assets.domain.dashboard_data import prepare_dashboard_data
from covid_assets.domain.dashboard_render import dashboard_html, dashboard_svgs
from covid_assets.domain.reading import read_csv_text
from covid_assets.domain.transform import merge_daily, state_daily
from covid_assets_dev.local_stack import (
    LOCAL_HOST,
    PROJECT_ROOT,
    dg_command,
    dg_environment,
    free_port,
    prepare_dagster_home,
    stop_process_group,
)
from covid_assets_tests.helpers import (
    LINEAGE,
    NATIONAL_HISTORY_DIR,
    SERVED_ASSETS,
    AlertInbox,
    EmulatedAws,
    blank_emulated_account,
    freshness_alert_tick,
    freshness_states,
    run_daily_job,
    subscribed_alert_inbox,
    use_snapshot,
)

# Its tests share a module fixture: they run on one worker (pytest -n --dist loadgroup).
pytestmark = [pytest.mark.system, pytest.mark.xdist_group("system/test_ui")]

ARTIFACTS_DIR = PROJECT_ROOT / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PIPELINE_ASSETS = (
    "nyt_raw",
    "jhu_raw",
    "merged_daily_table",
    "dynamodb_records",
    "athena_export",
    "dashboard",
)
STARTUP_SECONDS = 120
DESKTOP = {"width": 1600, "height": 1000}
RUN_SECONDS = 120
SENSOR_INTERVAL_SECONDS = 10
# One minute, Dagster's shortest window, in hours (to the microsecond, which the UI's whole seconds
# need). The asset page states it as "a minute".
FRESHNESS_HOURS = "0.01666666667"
FRESHNESS_SECONDS = 120
STALE_SUBJECT = "covid_assets: what is served is stale"


@dataclass
class DagsterUI:
    url: str
    aws: EmulatedAws
    inbox: AlertInbox

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


LOCATION_STATUS = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"
RUN_STATUS = "query ($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"
ASSET_NODES = """{ assetNodes { assetKey { path } dependencyKeys { path }
  assetChecksOrError { ... on AssetChecks { checks {
    name executionForLatestMaterialization { status } } } } } }"""
CHECK_RESULT_LABELS = {"SUCCEEDED": "Succeeded", "FAILED": "Failed"}
SENSOR_RUNS = """{ runsOrError(filter: {tags: [
  {key: "covid_assets/trigger", value: "covid_sources_sensor"}]}) {
  ... on Runs { results { runId status tags { key value } } } } }"""
ALL_RUNS = """{ runsOrError { ... on Runs { results {
  runId pipelineName assetSelection { path } assetCheckSelection { name } } } } }"""
TRIGGER_TARGETS = """{
  sensorOrError(sensorSelector: {repositoryName: "__repository__",
    repositoryLocationName: "covid_assets", sensorName: "covid_sources_sensor"}) {
    ... on Sensor { assetSelection { assetSelectionString } } }
  scheduleOrError(scheduleSelector: {repositoryName: "__repository__",
    repositoryLocationName: "covid_assets", scheduleName: "covid_daily_schedule"}) {
    ... on Schedule { assetSelection { assetSelectionString } } } }"""
RUN_TIMES = "{ runsOrError { ... on Runs { results { runId endTime } } } }"
SENSOR_TICKS = """{ sensorOrError(sensorSelector: {repositoryName: "__repository__",
  repositoryLocationName: "covid_assets", sensorName: "covid_sources_sensor"}) {
  ... on Sensor { sensorState { ticks(limit: 20) { status skipReason timestamp } } } } }"""


def launched_by(page: Page, button: Locator) -> str:
    """Click ``button``, which launches a run as the UI does; the run's id. The page is left
    for a blank one: an open page of the UI polls the webserver and redraws while the run goes
    on, and both take the CPU the run and the other tests need."""
    with page.expect_response(
        lambda response: "LaunchPipelineExecution" in (response.request.post_data or "")
    ) as launch:
        button.click()
    run_id = launch.value.json()["data"]["launchPipelineExecution"]["run"]["id"]
    page.goto("about:blank")
    return run_id


def wait_for_run(dagster_ui: "DagsterUI", run_id: str) -> str:
    """The run's final status."""
    deadline = time.monotonic() + RUN_SECONDS
    status = "QUEUED"
    while status not in ("SUCCESS", "FAILURE", "CANCELED"):
        assert time.monotonic() < deadline, f"run {run_id} still {status} after {RUN_SECONDS} s"
        time.sleep(0.5)
        status = dagster_ui.graphql(RUN_STATUS, runId=run_id)["runOrError"]["status"]
    return status


def wait_until_loaded(server: subprocess.Popen, url: str, log: Path) -> None:
    """Wait until the webserver answers and the code location has loaded."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"dg dev exited with {server.returncode}; see {log}")
        try:
            response = requests.post(f"{url}/graphql", json={"query": LOCATION_STATUS}, timeout=5)
            entries = response.json()["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                return
        except (requests.RequestException, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"dg dev did not load within {STARTUP_SECONDS} s; see {log}")


@pytest.fixture(scope="module")
def dagster_ui(moto_endpoint, snapshots_dir, tmp_path_factory) -> Iterator[DagsterUI]:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as monkeypatch:
        aws = blank_emulated_account(moto_endpoint, monkeypatch)
        inbox = subscribed_alert_inbox(aws)
        use_snapshot(monkeypatch, snapshots_dir, "2021-03-18")
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path_factory.mktemp("dagster_home")))
        monkeypatch.setenv("COVID_SENSOR_INTERVAL_SECONDS", str(SENSOR_INTERVAL_SECONDS))
        # What is served turns stale a minute after the last run, while the module runs, and
        # the daemon's freshness evaluation sees it within seconds.
        monkeypatch.setenv("COVID_FRESHNESS_HOURS", FRESHNESS_HOURS)
        monkeypatch.setenv("FRESHNESS_DAEMON_INTERVAL_SECONDS", "5")
        prepare_dagster_home()
        port = str(free_port())
        url = f"http://{LOCAL_HOST}:{port}"
        log = ARTIFACTS_DIR / "dg-dev.log"
        with log.open("w") as output:
            server = subprocess.Popen(
                dg_command("dev", "-h", LOCAL_HOST, "-p", port),
                cwd=PROJECT_ROOT,
                env={**os.environ, **dg_environment()},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_until_loaded(server, url, log)
                yield DagsterUI(url, aws, inbox)
            finally:
                # dg dev and every process it started: they share its session.
                stop_process_group(server, 15)


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    """Chromium, with one context for the module: its pages share the HTTP cache, so the UI's
    scripts are fetched and compiled once, not for every page."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport=DESKTOP)
        yield context
        context.close()
        chromium.close()


def open_page(browser: BrowserContext) -> Page:
    page = browser.new_page()
    page.set_default_timeout(30_000)
    return page


@pytest.fixture
def page(browser) -> Iterator[Page]:
    page = open_page(browser)
    yield page
    page.close()


def screenshot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS_DIR / f"{name}.png")


@pytest.fixture(scope="module")
def sensor_run(dagster_ui) -> dict[str, Any]:
    """The run the sensor's first tick starts on a new instance, once it has ended."""
    deadline = time.monotonic() + RUN_SECONDS
    while not (runs := dagster_ui.graphql(SENSOR_RUNS)["runsOrError"]["results"]):
        assert time.monotonic() < deadline, f"the sensor started no run in {RUN_SECONDS} s"
        time.sleep(1)
    [run] = runs
    return {**run, "status": wait_for_run(dagster_ui, run["runId"])}


@pytest.fixture(scope="module")
def materialize_all_run(dagster_ui, browser, sensor_run) -> str:
    """Click "Materialize all" in the lineage view and wait for the run to end; its status.
    (After the sensor's own first run, so that the two do not overlap.)"""
    page = open_page(browser)
    try:
        page.goto(f"{dagster_ui.url}/asset-groups")
        button = page.get_by_role("button", name="Materialize all")
        run_id = launched_by(page, button)
        status = wait_for_run(dagster_ui, run_id)
        page.goto(f"{dagster_ui.url}/runs/{run_id}")
        expect(page.get_by_text(run_id[:8]).first).to_be_visible()
        screenshot(page, "run")
        return status
    finally:
        page.close()


def open_expanded_lineage(page: Page, url: str) -> None:
    """The lineage view with every group expanded, each asset of the pipeline on it once."""
    page.goto(f"{url}/asset-groups")
    # With several groups the graph first opens with each group collapsed to one box: they are
    # expanded from the graph's settings menu (the last settings button; the first is the
    # sidebar's). The UI remembers it (the module's pages share their storage).
    expect(page.locator("svg foreignObject").first).to_be_visible()
    page.locator("button:has([aria-label='settings'])").last.click()
    groups = page.get_by_role("menuitem", name=re.compile(r"(Expand|Collapse) all groups"))
    expect(groups).to_be_visible()
    if groups.inner_text().startswith("Expand"):
        groups.click()
    page.keyboard.press("Escape")
    expect(groups).to_be_hidden()
    for asset in PIPELINE_ASSETS:
        node = page.locator("svg foreignObject").filter(has=page.get_by_text(asset, exact=True))
        expect(node).to_have_count(1)


def test_lineage_view_shows_every_asset_of_the_pipeline(dagster_ui, page):
    open_expanded_lineage(page, dagster_ui.url)
    screenshot(page, "lineage")


def test_lineage_runs_raw_to_table_to_history_to_load_and_export_to_dashboard(dagster_ui):
    nodes = dagster_ui.graphql(ASSET_NODES)["assetNodes"]
    upstream = {
        node["assetKey"]["path"][-1]: sorted(key["path"][-1] for key in node["dependencyKeys"])
        for node in nodes
    }
    assert upstream == {asset: sorted(parents) for asset, parents in LINEAGE.items()}


def test_materialize_all_from_the_ui_succeeds(materialize_all_run):
    assert materialize_all_run == "SUCCESS"


# The snapshot's last day in both sources, and its new cases (see test_dashboard).
LAST_DAYS_NEW_CASES = ("54,440", "new cases on 2021-03-16")


def test_dashboard_asset_page_renders_the_chart_and_the_latest_figures(
    dagster_ui, materialize_all_run, page
):
    page.goto(f"{dagster_ui.url}/assets/dashboard")
    # Long markdown metadata opens in a dialog.
    page.get_by_text("[Show Markdown]").click()
    chart = page.locator('img[src^="data:image/svg+xml;base64,"]').first
    expect(chart).to_be_visible()
    assert chart.evaluate("image => image.complete && image.naturalWidth") > 0
    number, label = LAST_DAYS_NEW_CASES
    expect(page.locator("li", has_text=label).locator("strong")).to_have_text(number)
    screenshot(page, "dashboard-asset")


def test_checks_tab_shows_the_check_results(dagster_ui, materialize_all_run, page):
    results = {
        node["assetKey"]["path"][-1]: {
            check["name"]: (check["executionForLatestMaterialization"] or {}).get("status")
            for check in node["assetChecksOrError"].get("checks", [])
        }
        for node in dagster_ui.graphql(ASSET_NODES)["assetNodes"]
    }
    checked = {asset: checks for asset, checks in results.items() if checks}
    if not checked:
        pytest.skip("no asset of the pipeline has asset checks yet")
    for asset, checks in checked.items():
        page.goto(f"{dagster_ui.url}/assets/{asset}?view=checks")
        for name, status in checks.items():
            assert status in CHECK_RESULT_LABELS, f"{asset} check {name}: no result ({status})"
            # The checks list shows each check's name over its latest result.
            entry = page.locator(f'[title="{name}"]').locator("xpath=..")
            expect(entry).to_contain_text(CHECK_RESULT_LABELS[status])
        screenshot(page, f"checks-{asset}")


def test_dashboard_page_in_s3_renders_without_console_errors(dagster_ui, materialize_all_run, page):
    """Open the page the way someone given a link would: a presigned URL to the object."""
    url = dagster_ui.aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": dagster_ui.aws.bucket, "Key": DASHBOARD_KEY}
    )
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url)
    # The four national charts; the run's one version is no revision: no revisions' charts.
    charts = page.locator("figure > svg")
    expect(charts).to_have_count(4)
    for chart in charts.all():
        expect(chart).to_be_visible()
        assert chart.bounding_box()["width"] > 300
    number, label = LAST_DAYS_NEW_CASES
    expect(page.locator(".totals li", has_text=label).locator("strong")).to_have_text(number)
    revisions = page.locator('section[aria-label="Revisions"] li').first
    expect(revisions).to_be_visible()
    expect(revisions).to_have_text(re.compile(r"^No revisions yet"))
    screenshot(page, "dashboard-html")
    assert problems == []
    assert [address for address in requested if not address.startswith("data:")] == [url]


def test_the_states_panel_of_the_real_files_renders_across_the_page(snapshots_dir, page):
    """The page the dashboard writes with the state level on, from the real 2021-03-18 files
    through the pipeline's own transforms: a small chart for each of the 55 states, drawn at its
    full size. (Opened as content: the served module runs with the state level off.)"""
    folder = snapshots_dir / "2021-03-18"
    nyt, jhu, states = (
        read_csv_text((folder / name).read_bytes())
        for name in ("nyt-us.csv", "jhu-combined.csv", "nyt-us-states.csv")
    )
    data = prepare_dashboard_data(merge_daily(nyt, jhu), state_daily(states))
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.set_content(dashboard_html(data, dashboard_svgs(data)))
    panel = page.locator("figure.wide > svg")
    expect(panel).to_be_visible()
    assert panel.bounding_box()["width"] == float(panel.get_attribute("width"))
    expect(panel.locator("g.state")).to_have_count(55)
    expect(page.locator("figure > svg")).to_have_count(5)
    screenshot(page, "dashboard-html-states")
    assert problems == []


def test_the_sensors_run_and_materialize_all_are_runs_of_the_same_job(
    dagster_ui, sensor_run, materialize_all_run
):
    runs = dagster_ui.graphql(ALL_RUNS)["runsOrError"]["results"]
    assert len(runs) == 2
    assert {run["pipelineName"] for run in runs} == {"__ASSET_JOB"}


def test_the_sensors_run_and_materialize_all_list_the_same_target(
    dagster_ui, sensor_run, materialize_all_run
):
    """The Runs page's Target column shows a run's asset selection: every asset, alike."""
    sensors, by_hand = dagster_ui.graphql(ALL_RUNS)["runsOrError"]["results"]
    for selection in ("assetSelection", "assetCheckSelection"):
        assert sensors[selection], selection
        assert sorted(map(str, sensors[selection])) == sorted(map(str, by_hand[selection]))


def test_the_sensor_and_the_schedule_show_their_target_every_asset(dagster_ui):
    targets = dagster_ui.graphql(TRIGGER_TARGETS)
    for trigger in ("sensorOrError", "scheduleOrError"):
        selection = targets[trigger]["assetSelection"]["assetSelectionString"]
        assert selection == '* and code_location:"covid_assets"', targets


def test_the_sensor_starts_the_first_run_with_no_click_and_says_why(sensor_run):
    tags = {tag["key"]: tag["value"] for tag in sensor_run["tags"]}
    assert sensor_run["status"] == "SUCCESS"
    assert "NYT published a new file" in tags["covid_assets/reason"]


@pytest.fixture(scope="module")
def quiet_tick(dagster_ui, materialize_all_run) -> dict[str, Any]:
    """The first sensor tick after "Materialize all" that found nothing to do."""
    since = time.time()
    deadline = time.monotonic() + 6 * SENSOR_INTERVAL_SECONDS + 30
    while True:
        ticks = dagster_ui.graphql(SENSOR_TICKS)["sensorOrError"]["sensorState"]["ticks"]
        skipped = [
            tick
            for tick in ticks
            if tick["status"] == "SKIPPED"
            and tick["timestamp"] > since
            and "verified" in tick["skipReason"]
        ]
        if skipped:
            return skipped[0]
        assert time.monotonic() < deadline, f"no quiet tick after the runs: {ticks[:3]}"
        time.sleep(2)


def test_a_quiet_tick_is_skipped_with_its_reason_on_the_sensors_page(dagster_ui, quiet_tick, page):
    assert "DynamoDB and the export verified" in quiet_tick["skipReason"]
    page.goto(f"{dagster_ui.url}/locations/covid_assets/sensors/covid_sources_sensor")
    # A skipped tick reads "0 runs requested"; its reason shows over it.
    latest = page.get_by_role("row").filter(has_text="View logs").first
    latest.get_by_text("0 runs requested").first.hover()
    expect(page.get_by_text("DynamoDB and the export verified").first).to_be_visible()
    screenshot(page, "sensor-quiet-tick")


def test_the_lineage_stays_green_after_a_quiet_tick(dagster_ui, quiet_tick, page):
    """A quiet tick makes no run, so every check keeps the result of the last run: passed."""
    results = {
        (node["assetKey"]["path"][-1], check["name"]): (
            check["executionForLatestMaterialization"] or {}
        ).get("status")
        for node in dagster_ui.graphql(ASSET_NODES)["assetNodes"]
        for check in node["assetChecksOrError"].get("checks", [])
    }
    assert results, "the pipeline's assets have no checks"
    assert {key: status for key, status in results.items() if status != "SUCCEEDED"} == {}
    open_expanded_lineage(page, dagster_ui.url)
    screenshot(page, "lineage-after-quiet-tick")


def wait_until_served_is(state: str) -> dict[str, str]:
    """Wait until the daemon has recorded ``state`` for every served asset; those states."""
    deadline = time.monotonic() + FRESHNESS_SECONDS
    with DagsterInstance.get() as instance:
        while (states := freshness_states(instance, SERVED_ASSETS)) != dict.fromkeys(
            SERVED_ASSETS, state
        ):
            assert time.monotonic() < deadline, f"not {state} in {FRESHNESS_SECONDS} s: {states}"
            time.sleep(1)
    return states


@pytest.fixture(scope="module")
def fresh_after_the_runs(materialize_all_run) -> dict[str, str]:
    """The served assets' freshness states once the daemon has seen the runs' materializations."""
    return wait_until_served_is("PASS")


def test_after_a_run_what_is_served_is_fresh(fresh_after_the_runs):
    assert fresh_after_the_runs == dict.fromkeys(SERVED_ASSETS, "PASS")


# While the freshness window passes: the runs that build no served asset (a check alone, the
# page as published on a day). The window's end is waited for after them (``stale``).
ALONE_CHECK = ("merged_daily_table", "sources_share_dates")
MATERIALIZATION_RUN = """query ($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
  ... on Asset { assetMaterializations(limit: 1) { runId } } } }"""


@pytest.fixture(scope="module")
def check_run_alone(dagster_ui, browser, materialize_all_run) -> dict[str, Any]:
    """A table's check executed alone from its Checks tab: the run, and the table's latest
    materialization's run before and after it."""
    asset, check = ALONE_CHECK

    def materialized_by() -> str:
        found = dagster_ui.graphql(MATERIALIZATION_RUN, key={"path": [asset]})["assetOrError"]
        return found["assetMaterializations"][0]["runId"]

    before = materialized_by()
    page = open_page(browser)
    try:
        page.goto(f"{dagster_ui.url}/assets/{asset}?view=checks&checkDetail={check}")
        execute = page.get_by_role("button", name="execute Execute", exact=True)
        expect(execute).to_be_enabled()
        screenshot(page, "check-alone-before")
        run_id = launched_by(page, execute)
        status = wait_for_run(dagster_ui, run_id)
        page.goto(f"{dagster_ui.url}/assets/{asset}?view=checks&checkDetail={check}")
        screenshot(page, "check-alone-after")
        return {"status": status, "run_id": run_id, "before": before, "after": materialized_by()}
    finally:
        page.close()


def test_a_tables_check_is_executed_alone_from_its_checks_tab(check_run_alone):
    assert check_run_alone["status"] == "SUCCESS"
    assert check_run_alone["after"] == check_run_alone["before"] != check_run_alone["run_id"]


# The README's UI section, walked step by step after the runs above.
PHONE = {"width": 390, "height": 844}
# The day the module's snapshot was published (helpers.published_snapshot: noon UTC).
SNAPSHOT_DAY = "2021-03-18"
# Three real national versions (run days of shared/data/history/nyt-us): the one of 2020-10-25
# revised 19 past days, adding 23,840 cases.
BACKFILLED_RUN_DAYS = ("2020-10-24", "2020-10-25", "2020-10-26")


def launch_from_the_launchpad(page: Page, url: str, job: str, config: str) -> str:
    """Open the job's Launchpad, type ``config`` (one line of YAML) into its editor and click
    Launch Run, as a person does; the run's id."""
    page.goto(f"{url}/locations/covid_assets/jobs/{job}/playground")
    editor = page.locator(".CodeMirror").first
    expect(editor).to_be_visible()
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(config)
    screenshot(page, f"{job}-launchpad")
    return launched_by(page, page.get_by_role("button", name="Launch Run"))


def presigned(dagster_ui: DagsterUI, key: str) -> str:
    return dagster_ui.aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": dagster_ui.aws.bucket, "Key": key}
    )


def open_on_a_phone(browser: BrowserContext, url: str) -> Page:
    page = open_page(browser)
    page.set_viewport_size(PHONE)
    page.goto(url)
    return page


def horizontal_overflow(page: Page) -> int:
    """How many pixels the page is wider than the screen (0: no horizontal scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_the_dashboard_page_fits_a_phone_without_horizontal_scroll(
    dagster_ui, materialize_all_run, browser
):
    page = open_on_a_phone(browser, presigned(dagster_ui, DASHBOARD_KEY))
    try:
        expect(page.locator("figure > svg").first).to_be_visible()
        assert horizontal_overflow(page) == 0
        for chart in page.locator("figure > svg").all():
            box = chart.bounding_box()
            assert box["x"] >= 0
            assert box["x"] + box["width"] <= PHONE["width"]
        page.screenshot(path=ARTIFACTS_DIR / "dashboard-phone.png", full_page=True)
    finally:
        page.close()


@pytest.fixture(scope="module")
def as_published_on_run(dagster_ui, browser, materialize_all_run) -> str:
    """The job as_published_on launched from its Launchpad for the snapshot's day; its status."""
    page = open_page(browser)
    try:
        config = f'ops: {{draw_as_published_on: {{config: {{day: "{SNAPSHOT_DAY}"}}}}}}'
        run_id = launch_from_the_launchpad(page, dagster_ui.url, "as_published_on", config)
        return wait_for_run(dagster_ui, run_id)
    finally:
        page.close()


def test_the_page_as_published_on_a_day_is_launched_from_its_launchpad_and_fits_a_phone(
    dagster_ui, as_published_on_run, browser
):
    assert as_published_on_run == "SUCCESS"
    key = f"dashboard/as-published-on/{SNAPSHOT_DAY}.html"
    page = open_on_a_phone(browser, presigned(dagster_ui, key))
    try:
        expect(page.locator("h1")).to_have_text(
            f"COVID-19 in the United States, as published on {SNAPSHOT_DAY}"
        )
        assert horizontal_overflow(page) == 0
        page.screenshot(path=ARTIFACTS_DIR / "as-published-on-phone.png", full_page=True)
    finally:
        page.close()


@dataclass
class Stale:
    """The served assets' freshness states once the window has passed, and two ticks of the
    alert sensor then (its own ticks in the daemon come five minutes apart)."""

    states: dict[str, str]
    built_on: dt.date
    first_tick: tuple[str, str | None]
    first_alerts: list[tuple[str, str]]
    tick_again: tuple[str, str | None]
    alerts_again: list[tuple[str, str]]


@pytest.fixture(scope="module")
def stale(dagster_ui, fresh_after_the_runs, quiet_tick) -> Stale:
    states = wait_until_served_is("FAIL")
    dagster_ui.inbox.messages()  # the runs' load notices
    with DagsterInstance.get() as instance:
        first_tick = freshness_alert_tick(instance, None)
        first_alerts = dagster_ui.inbox.messages()
        tick_again = freshness_alert_tick(instance, first_tick[1])
    return Stale(
        states,
        dt.datetime.now(dt.UTC).date(),
        first_tick,
        first_alerts,
        tick_again,
        dagster_ui.inbox.messages(),
    )


def test_with_no_run_for_longer_than_the_window_what_is_served_is_stale(stale):
    assert stale.states == dict.fromkeys(SERVED_ASSETS, "FAIL")


def test_going_stale_sends_one_alert_naming_what_is_stale_and_since_when(stale):
    reason, _ = stale.first_tick
    again, _ = stale.tick_again
    [(subject, message)] = stale.first_alerts
    assert subject == STALE_SUBJECT
    assert message.startswith(
        f"No run has built what is served for more than {FRESHNESS_HOURS} h "
        "(COVID_FRESHNESS_HOURS):"
    )
    for name in sorted(SERVED_ASSETS):
        assert f"\n{name}: last built {stale.built_on:%Y-%m-%d}" in message
    assert reason == "Stale (athena_export, dashboard, dynamodb_records); alert sent"
    assert again == "Stale (athena_export, dashboard, dynamodb_records); the alert was already sent"
    assert stale.alerts_again == []


def test_what_is_served_is_marked_stale_once_the_window_has_passed_without_a_run(
    dagster_ui, stale, page
):
    page.goto(f"{dagster_ui.url}/assets/dashboard")
    # The asset page's "Freshness policy" section: its state, then the policy.
    stale = re.compile(r"Failed\s*Last materialized .* ago\s*Fails if more than a minute since")
    # The daemon evaluates freshness every few seconds: under load the page may show it late.
    expect(page.get_by_text(stale).last).to_be_visible(timeout=30_000)
    screenshot(page, "dashboard-stale")


def test_a_run_makes_what_is_served_fresh_again(stale):
    # In a thread of its own: the run's event loop must not meet Playwright's, which runs here.
    with DagsterInstance.get() as instance, ThreadPoolExecutor(1) as thread:
        thread.submit(run_daily_job, instance).result()
    assert wait_until_served_is("PASS") == dict.fromkeys(SERVED_ASSETS, "PASS")


def materialize_from_the_asset_page(page: Page, url: str, asset: str) -> str:
    """Click Materialize on the asset's page; the run's id."""
    page.goto(f"{url}/assets/{asset}")
    return launched_by(page, page.get_by_role("button", name="Materialize").first)


@pytest.fixture(scope="module")
def revisions_page(dagster_ui, browser, as_published_on_run, snapshots_dir, tmp_path_factory):
    """Three real versions backfilled from history_backfill's Launchpad (older than the one
    served), then the dashboard materialized from its page; the page's revisions section."""
    if not NATIONAL_HISTORY_DIR.is_dir():
        pytest.skip(f"real NYT history not found at {NATIONAL_HISTORY_DIR}")
    manifest = tmp_path_factory.mktemp("backfill") / "MANIFEST.csv"
    lines = (NATIONAL_HISTORY_DIR / "MANIFEST.csv").read_text().splitlines()
    manifest.write_text(
        "\n".join([lines[0], *(line for line in lines if line[:10] in BACKFILLED_RUN_DAYS)])
    )
    config = (
        "ops: {backfill_history: {config: {table: national, "
        f'manifest: "{manifest}", file_url: "{NATIONAL_HISTORY_DIR}/{{run_day}}.csv", '
        f'jhu_url: "{snapshots_dir / "2021-03-17" / "jhu-combined.csv"}", '
        'jhu_published: "2020-04-01T00:00:00Z"}}}'
    )
    page = open_page(browser)
    try:
        backfill = launch_from_the_launchpad(page, dagster_ui.url, "history_backfill", config)
        assert wait_for_run(dagster_ui, backfill) == "SUCCESS"
        drawn = materialize_from_the_asset_page(page, dagster_ui.url, "dashboard")
        assert wait_for_run(dagster_ui, drawn) == "SUCCESS"
        page.goto(presigned(dagster_ui, DASHBOARD_KEY))
        section = page.locator('section[aria-label="Revisions"]')
        section.scroll_into_view_if_needed()
        screenshot(page, "dashboard-revisions")
        return section.inner_text()
    finally:
        page.close()


def test_the_revisions_view_shows_the_backfilled_real_versions(revisions_page):
    """The versions NYT committed on 2020-10-24, -25 and -26, older than the one served: the
    revisions are counted from the second, 2020-10-25's, each against the one before."""
    assert "Since 2020-10-25: " in revisions_page
    assert "Latest publication, " in revisions_page


SERVED_CHECK_RECORDS = 10
REPAIR_SECONDS = 120


def served_check_history(asset: str) -> list[tuple[str, bool]]:
    """The evaluations of served_as_last_written on ``asset``, oldest first: (run id, passed);
    a tick's has no run id."""
    key = AssetCheckKey(AssetKey(asset), SERVED_CHECK)
    with DagsterInstance.get() as instance:
        records = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=SERVED_CHECK_RECORDS
        )
    return [(record.run_id, record.status.value == "SUCCEEDED") for record in reversed(records)]


def wait_until_quiet(dagster_ui: DagsterUI) -> None:
    """Until no run is under way and a sensor tick since the last one ended found all served."""
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        runs = dagster_ui.graphql(RUN_TIMES)["runsOrError"]["results"]
        ended = [run["endTime"] for run in runs if run["endTime"]]
        if len(ended) == len(runs):
            ticks = dagster_ui.graphql(SENSOR_TICKS)["sensorOrError"]["sensorState"]["ticks"]
            if any(
                tick["timestamp"] > max(ended, default=0)
                and "verified" in (tick["skipReason"] or "")
                for tick in ticks
            ):
                return
        assert time.monotonic() < deadline, "the sensor found nothing quiet"
        time.sleep(1)


@pytest.fixture(scope="module")
def wiped_and_repaired(dagster_ui, browser, revisions_page, check_run_alone) -> dict[str, Any]:
    """The emulator wiped behind the pipeline's back (as a restart of `make run` leaves it):
    the check's page shows it failed once the sensor's tick has failed it, and passed once the
    repair run has passed it; the tick's evaluation and the last one."""
    asset = "dynamodb_records"
    # The earlier tests' runs end, and a tick finds all served, before the emulator is wiped.
    wait_until_quiet(dagster_ui)
    before = served_check_history(asset)
    with pytest.MonkeyPatch.context() as monkeypatch:
        blank_emulated_account(dagster_ui.aws.endpoint, monkeypatch)
    deadline = time.monotonic() + REPAIR_SECONDS
    while (history := served_check_history(asset))[len(before) :] == []:
        assert time.monotonic() < deadline, "no tick failed the served check"
        time.sleep(0.5)
    failed_by_the_tick = history[len(before)]
    page = open_page(browser)
    try:
        # The repair run the tick requested plans the check at once: the tick's failure is the
        # check's latest result for seconds, and stays in its execution history.
        check_page = f"{dagster_ui.url}/assets/{asset}?view=checks&checkDetail={SERVED_CHECK}"
        page.goto(check_page)
        page.get_by_role("tab", name="Execution history").click()
        expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
        screenshot(page, "served-check-red")
        page.goto("about:blank")  # as launched_by leaves it, while the repair run goes on
        while not (history := served_check_history(asset))[-1][1]:
            assert time.monotonic() < deadline, "no run passed the served check again"
            time.sleep(0.5)
        page.goto(check_page)
        page.get_by_role("tab", name="Execution history").click()
        expect(page.get_by_text("Succeeded", exact=True).first).to_be_visible()
        screenshot(page, "served-check-green")
        return {"tick": failed_by_the_tick, "last": history[-1]}
    finally:
        page.close()


def test_a_tick_fails_the_served_check_at_once_when_what_is_served_is_wiped(wiped_and_repaired):
    assert wiped_and_repaired["tick"] == ("", False)


def test_the_repair_run_passes_the_served_check_again(wiped_and_repaired):
    run_id, passed = wiped_and_repaired["last"]
    assert run_id
    assert passed
