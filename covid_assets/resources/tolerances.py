"""How far a new national table may fall short of what is served before it is held back."""

from dagster import ConfigurableResource
from pydantic import Field

from covid_assets.domain.rules import ServedTolerances


class ServedTolerancesResource(ConfigurableResource):
    """The tolerances of the national table's checks against what is served: revisions do
    lower counts and drop days, a little; a cut or shrunk file does so a lot."""

    max_lost_days_percent: int = Field(
        description="Served days a new table may lose, in percent (COVID_MAX_LOST_DAYS_PERCENT).",
    )
    protected_recent_days: int = Field(
        description="The last served days none of which may be lost (COVID_PROTECTED_RECENT_DAYS).",
    )
    max_count_drop_percent: int = Field(
        description="How far a count may fall below the served one, in percent "
        "(COVID_MAX_COUNT_DROP_PERCENT).",
    )
    count_drop_floor: int = Field(
        description="A fall of this many or fewer is always allowed (COVID_COUNT_DROP_FLOOR).",
    )

    @property
    def tolerances(self) -> ServedTolerances:
        return ServedTolerances(
            self.max_lost_days_percent,
            self.protected_recent_days,
            self.max_count_drop_percent,
            self.count_drop_floor,
        )
