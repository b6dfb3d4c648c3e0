"""Pipeline schedules: cron in a time zone, their variables, running one now (``play``), and the worker's
periodic pass that creates the due ones with source ``schedule``.

Each due time gives exactly one pipeline however many workers run the pass: a worker claims a schedule by
moving its ``next_run_at`` on with a conditional UPDATE (``WHERE next_run_at = <the value it read>``);
only the worker whose UPDATE changed the row creates the pipeline.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from croniter import croniter
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.ci.models import Pipeline, PipelineSchedule, PipelineScheduleVariable
from dockyard.ci.services import PipelineRefused, _variable_errors, pipeline_create
from dockyard.core.errors import BadRequest, NotFound, ValidationFailed, check
from dockyard.core.logging import get_logger
from dockyard.projects.models import Project
from dockyard.repos.git import GitError
from dockyard.repos.git import read as git_read

log = get_logger("dockyard.ci.schedules")

HEADS, TAGS = "refs/heads/", "refs/tags/"
# How many due schedules one pass of the worker takes on.
BATCH = 100


def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def next_run(*, cron: str, cron_timezone: str, after: dt.datetime) -> dt.datetime:
    """The first time after ``after`` that ``cron`` names, read in ``cron_timezone``, as a UTC datetime."""
    zone = _zone(cron_timezone) or dt.UTC
    local = after.astimezone(zone)
    following: dt.datetime = croniter(cron, local).get_next(dt.datetime)
    return following.astimezone(dt.UTC)


def _errors(*, description: str | None, cron: str | None, cron_timezone: str | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if description is not None and not description.strip():
        errors["description"] = ["can't be blank"]
    if cron is not None and (len(cron.split()) != 5 or not croniter.is_valid(cron)):
        errors["cron"] = [" is invalid syntax"]
    if cron_timezone is not None and _zone(cron_timezone) is None:
        errors["cron_timezone"] = [" is invalid syntax"]
    return errors


def _full_ref(project: Project, ref: str) -> str:
    """GitLab expands a short ref to ``refs/heads/…`` or ``refs/tags/…``; one that names both is refused,
    one that names neither is kept as given."""
    if ref.startswith((HEADS, TAGS)):
        return ref
    try:
        repo = git_read.Repository(project.id)
    except GitError:
        return ref
    branch, tag = repo.ref_target(HEADS + ref), repo.ref_target(TAGS + ref)
    if branch and tag:
        raise BadRequest("Ref is ambiguous")
    return HEADS + ref if branch else TAGS + ref if tag else ref


def schedule_list(*, project: Project, scope: str | None = None) -> QuerySet[PipelineSchedule]:
    qs = PipelineSchedule.objects.filter(project=project).select_related("owner").order_by("id")
    if scope == "active":
        qs = qs.filter(active=True)
    elif scope == "inactive":
        qs = qs.filter(active=False)
    elif scope is not None:
        raise BadRequest("scope does not have a valid value")
    return qs


def schedule_get(*, project: Project, schedule_id: int | str) -> PipelineSchedule:
    schedule = (
        PipelineSchedule.objects.select_related("owner", "project__namespace")
        .filter(project=project, pk=int(schedule_id) if str(schedule_id).isdigit() else -1)
        .first()
    )
    if schedule is None:
        raise NotFound("Pipeline Schedule")
    return schedule


def schedule_last_pipeline(*, schedule: PipelineSchedule) -> Pipeline | None:
    return Pipeline.objects.filter(pipeline_schedule=schedule).order_by("-id").first()


@transaction.atomic
def schedule_create(
    *,
    project: Project,
    owner: User,
    description: str | None,
    ref: str | None,
    cron: str | None,
    cron_timezone: str | None = None,
    active: bool | None = None,
) -> PipelineSchedule:
    for name, value in (("description", description), ("ref", ref), ("cron", cron)):
        if value is None:
            raise BadRequest(f"{name} is missing")
    assert description is not None and ref is not None and cron is not None
    zone = cron_timezone or "UTC"
    check(_errors(description=description, cron=cron, cron_timezone=zone))
    now = timezone.now()
    return PipelineSchedule.objects.create(
        project=project,
        owner=owner,
        description=description,
        ref=_full_ref(project, ref),
        cron=cron.strip(),
        cron_timezone=zone,
        active=True if active is None else active,
        next_run_at=next_run(cron=cron.strip(), cron_timezone=zone, after=now),
        created_at=now,
        updated_at=now,
    )


@transaction.atomic
def schedule_update(*, schedule: PipelineSchedule, **fields: Any) -> PipelineSchedule:
    """Edit and reschedule (``next_run_at`` from now, as GitLab does after every update)."""
    check(
        _errors(
            description=fields.get("description"), cron=fields.get("cron"), cron_timezone=fields.get("cron_timezone")
        )
    )
    for name in ("description", "cron", "cron_timezone", "active"):
        if fields.get(name) is not None:
            setattr(schedule, name, fields[name].strip() if name == "cron" else fields[name])
    if fields.get("ref") is not None:
        schedule.ref = _full_ref(schedule.project, fields["ref"])
    now = timezone.now()
    schedule.next_run_at = next_run(cron=schedule.cron, cron_timezone=schedule.cron_timezone, after=now)
    schedule.updated_at = now
    schedule.save()
    return schedule


@transaction.atomic
def schedule_take_ownership(*, schedule: PipelineSchedule, user: User) -> PipelineSchedule:
    schedule.owner = user
    schedule.updated_at = timezone.now()
    schedule.save(update_fields=["owner", "updated_at"])
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: PipelineSchedule) -> None:
    schedule.delete()


def schedule_variable_get(*, schedule: PipelineSchedule, key: str) -> PipelineScheduleVariable:
    variable = PipelineScheduleVariable.objects.filter(schedule=schedule, key=key).first()
    if variable is None:
        raise NotFound("Pipeline Schedule Variable")
    return variable


@transaction.atomic
def schedule_variable_create(
    *, schedule: PipelineSchedule, key: str, value: str, variable_type: str | None = None
) -> PipelineScheduleVariable:
    check(_variable_errors(key=key, value=value, masked=False, variable_type=variable_type))
    try:
        with transaction.atomic():
            return PipelineScheduleVariable.objects.create(
                schedule=schedule, key=key, value=value, variable_type=variable_type or "env_var"
            )
    except IntegrityError:
        raise ValidationFailed({"variables.key": ["(" + key + ") has already been taken"]}) from None


@transaction.atomic
def schedule_variable_update(
    *, variable: PipelineScheduleVariable, value: str | None, variable_type: str | None
) -> PipelineScheduleVariable:
    check(_variable_errors(key=None, value=value, masked=False, variable_type=variable_type))
    if value is not None:
        variable.value = value
    if variable_type is not None:
        variable.variable_type = variable_type
    variable.save()
    return variable


@transaction.atomic
def schedule_variable_delete(*, variable: PipelineScheduleVariable) -> None:
    variable.delete()


def schedule_run(*, schedule: PipelineSchedule) -> Pipeline | None:
    """Create the schedule's pipeline now, as its owner (source ``schedule``). A ref that no longer
    exists or a configuration with nothing to run creates none."""
    ref = schedule.ref
    tag = ref.startswith(TAGS)
    name = ref.removeprefix(TAGS if tag else HEADS)
    variables = [
        {"key": v.key, "value": v.value, "variable_type": v.variable_type}
        for v in PipelineScheduleVariable.objects.filter(schedule=schedule).order_by("id")
    ]
    try:
        return pipeline_create(
            project=schedule.project,
            user=schedule.owner,
            ref=name,
            tag=tag,
            source="schedule",
            variables=variables,
            schedule=schedule,
        )
    except PipelineRefused:
        return None


def schedule_claim(*, schedule_id: int, due: dt.datetime, next_at: dt.datetime) -> bool:
    """Move the schedule's ``next_run_at`` from ``due`` to ``next_at`` if nobody did meanwhile: True for
    the one caller that did."""
    return bool(
        PipelineSchedule.objects.filter(pk=schedule_id, active=True, next_run_at=due).update(next_run_at=next_at)
    )


def schedules_run_due(*, now: dt.datetime | None = None) -> int:
    """The worker's periodic pass: one pipeline for each active schedule whose time has come. Returns how
    many it created."""
    now = now or timezone.now()
    due = list(
        PipelineSchedule.objects.filter(active=True, next_run_at__lte=now)
        .select_related("project__namespace", "owner")
        .order_by("next_run_at")[:BATCH]
    )
    created = 0
    for schedule in due:
        assert schedule.next_run_at is not None
        following = next_run(cron=schedule.cron, cron_timezone=schedule.cron_timezone, after=now)
        if not schedule_claim(schedule_id=schedule.pk, due=schedule.next_run_at, next_at=following):
            continue  # another worker took this run
        if schedule.owner is None or not schedule.owner.is_active:
            continue
        try:
            if schedule_run(schedule=schedule) is not None:
                created += 1
        except Exception:  # one broken schedule must not stop the others
            log.exception("pipeline_schedule_failed", schedule_id=schedule.pk)
    return created
