"""When a pipeline runs again by itself: a cron expression or an interval.

KFP reads cron with robfig/cron v1.2.0's `cron.Parse` (the API server checks it in
backend/src/apiserver/server/api_converter.go, the scheduler runs it in
backend/src/crd/controller/scheduledworkflow/util/cron_schedule.go, KFP 2.5.0), whose
fields are seconds, minutes, hours, day of month, month and an optional day of week. A
usual five-field expression would mean something else there (`0 3 * * *` would run at
minute 3 of every hour), so five fields are read as standard cron and given a `0`
seconds field; six fields are taken as KFP's own. What KFP would refuse is refused
here, in one line.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zenml_kf.exceptions import ZenMLKFError
from zenml_kf.grammar import plural


class ScheduleError(ZenMLKFError):
    """A schedule KFP would not accept."""


_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_EVERY = re.compile(r"^@every (\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (name, lowest, highest, names from the lowest value on) of each field of KFP's cron.
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("seconds", 0, 59, ()),
    ("minutes", 0, 59, ()),
    ("hours", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)


def kfp_cron(expression: str) -> str:
    """The six-field cron KFP runs for `expression` (five or six fields, or a descriptor)."""
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text in _DESCRIPTORS or _EVERY.match(text):
            return text
        raise ScheduleError(f"cron '{expression}' is not a descriptor KFP knows (@daily, @every 1h, ...)")
    fields = text.split(" ")
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ScheduleError(
            f"cron '{expression}' has {plural(len(fields), 'field')}; give five (minute hour day month weekday, "
            "e.g. '0 3 * * *') or six with seconds first, as KFP reads them ('0 0 3 * * *')"
        )
    for value, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        _check_field(expression, value, name, low, high, names)
    return " ".join(fields)


def _check_field(expression: str, value: str, name: str, low: int, high: int, names: tuple[str, ...]) -> None:
    for part in value.split(","):
        body, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            raise ScheduleError(
                f"cron '{expression}': step '/{step}' in the {name} field is not a positive number"
            )
        if body in ("*", "?"):
            continue
        for bound in body.split("-", 1):
            number = low + names.index(bound.upper()) if bound.upper() in names else None
            if number is None and bound.isdigit():
                number = int(bound)
            if number is None or not low <= number <= high:
                raise ScheduleError(
                    f"cron '{expression}': '{bound}' is not a valid {name} ({low}-{high}); "
                    "KFP's cron has seconds first when given six fields"
                )


class Schedule(BaseModel):
    """`Schedule(cron="0 3 * * *")` or `Schedule(interval_seconds=3600)`, with optional bounds.

    `catchup=False` skips the runs missed while a schedule was paused or the cluster
    down; `max_concurrency` caps how many of its runs may be active at once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str | None = None
    interval_seconds: int | None = Field(default=None, ge=1)
    start: datetime | None = None
    end: datetime | None = None
    catchup: bool = True
    max_concurrency: int = Field(default=1, ge=1, le=10)
    name: str | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else kfp_cron(value)

    @model_validator(mode="after")
    def _one_trigger(self) -> Schedule:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give a cron expression or an interval, one of them")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("the schedule ends before it starts")
        return self


def make_schedule(**values: object) -> Schedule:
    """A Schedule, or one ScheduleError line naming what is wrong."""
    try:
        return Schedule.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ScheduleError):
            raise cause from None
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ScheduleError(f"invalid schedule: {where + ': ' if where else ''}{message}") from exc
