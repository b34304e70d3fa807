"""The upstream files, one declaration each.

A source is its raw asset's name, the setting that says where to fetch it (with its default),
the column that holds its dates, and the rules (in ``contracts``) its file must follow. The raw
assets, their checks, the downloader's URLs and the settings table are all built from
``SOURCES``, so a new upstream file is one entry here plus its rules.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from covid_assets.domain.rules import (
    COUNTY_DATE,
    COUNTY_RULES,
    JHU_DATE,
    JHU_RULES,
    NYT_DATE,
    NYT_RULES,
    STATE_DATE,
    STATE_RULES,
    Rule,
)


@dataclass(frozen=True)
class Source:
    """One upstream file and the raw asset that keeps it as downloaded."""

    name: str
    asset: str
    url_setting: str
    default_url: str
    label: str
    description: str
    date_column: str
    rules: Sequence[Rule]


NYT = Source(
    name="NYT",
    asset="nyt_raw",
    url_setting="COVID_NYT_URL",
    default_url="https://raw.githubusercontent.com/nytimes/covid-19-data/master/us.csv",
    label="NYT US daily file",
    description="New York Times US daily totals (us.csv: date, cases, deaths), as downloaded.",
    date_column=NYT_DATE,
    rules=NYT_RULES,
)

JHU = Source(
    name="JHU",
    asset="jhu_raw",
    url_setting="COVID_JHU_URL",
    default_url=(
        "https://raw.githubusercontent.com/datasets/covid-19/main/data/"
        "time-series-19-covid-combined.csv"
    ),
    label="JHU combined time series",
    description=(
        "Johns Hopkins CSSE combined time series (Date, Country/Region, Province/State, "
        "[Lat, Long], Confirmed, Recovered, Deaths) for every country, as downloaded."
    ),
    date_column=JHU_DATE,
    rules=JHU_RULES,
)

NYT_STATES = Source(
    name="NYT states",
    asset="nyt_states_raw",
    url_setting="COVID_NYT_STATES_URL",
    default_url="https://raw.githubusercontent.com/nytimes/covid-19-data/master/us-states.csv",
    label="NYT US states file",
    description=(
        "New York Times daily figures per state and territory (us-states.csv: date, state, "
        "fips, cases, deaths), as downloaded."
    ),
    date_column=STATE_DATE,
    rules=STATE_RULES,
)

NYT_COUNTIES = Source(
    name="NYT counties",
    asset="nyt_counties_raw",
    url_setting="COVID_NYT_COUNTIES_URL",
    default_url=(
        "https://raw.githubusercontent.com/nytimes/covid-19-data/master/us-counties-recent.csv"
    ),
    label="NYT US counties file (the last 30 days)",
    description=(
        "New York Times daily figures per county over the last 30 days, revised in place "
        "(us-counties-recent.csv: date, county, state, fips, cases, deaths), as downloaded."
    ),
    date_column=COUNTY_DATE,
    rules=COUNTY_RULES,
)

# The national pipeline's sources: always on.
NATIONAL_SOURCES: tuple[Source, ...] = (NYT, JHU)
# Every source, the national ones first; a level's source is on when its URL setting is not
# empty (see ``levels``).
SOURCES: tuple[Source, ...] = (*NATIONAL_SOURCES, NYT_STATES, NYT_COUNTIES)
