"""Pipeline schedules in process: cron in a time zone, the due pass creating each run once however many
workers look, and the list query budgets of schedules and trigger tokens."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dockyard.accounts import services as accounts
from dockyard.ci import schedules, triggers
from dockyard.ci.models import Pipeline, PipelineSchedule
from dockyard.namespaces import services as groups
from dockyard.projects import services as projects
from dockyard.repos.git.write import Signature, commit_initial

YAML = 'nightly:\n  script: [x]\n  rules:\n    - if: $CI_PIPELINE_SOURCE == "schedule"\n'


def test_next_run_reads_the_cron_in_its_time_zone() -> None:
    after = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    # 03:00 in Tokyo (UTC+9) is 18:00 UTC the day before.
    assert schedules.next_run(cron="0 3 * * *", cron_timezone="Asia/Tokyo", after=after) == dt.datetime(
        2026, 1, 15, 18, 0, tzinfo=dt.UTC
    )
    # New York in July is UTC-4.
    summer = dt.datetime(2026, 7, 1, 0, 0, tzinfo=dt.UTC)
    assert schedules.next_run(cron="30 9 * * 1-5", cron_timezone="America/New_York", after=summer) == dt.datetime(
        2026, 7, 1, 13, 30, tzinfo=dt.UTC
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("remove_repositories")
def test_a_due_schedule_runs_once_however_many_workers_look() -> None:
    owner = accounts.user_create(username="sched-owner", email="sched@example.com", name="S")
    group = groups.group_create(actor=owner, name="Sched grp", path="sched-grp")
    project = projects.project_create(actor=owner, namespace=group, name="app")
    files = {".gitlab-ci.yml": YAML.encode()}
    commit_initial(project.id, branch="main", files=files, message="CI", author=Signature("S", "s@example.com"))
    schedule = schedules.schedule_create(
        project=project, owner=owner, description="Nightly", ref="main", cron="0 3 * * *", cron_timezone="UTC"
    )
    assert schedule.ref == "refs/heads/main" and schedule.next_run_at is not None
    assert schedules.schedules_run_due() == 0  # not due yet

    due = timezone.now() - dt.timedelta(minutes=5)
    PipelineSchedule.objects.filter(pk=schedule.pk).update(next_run_at=due)
    # Two workers read the same due row; only the one whose conditional UPDATE moves it runs it.
    later = schedules.next_run(cron=schedule.cron, cron_timezone="UTC", after=timezone.now())
    assert schedules.schedule_claim(schedule_id=schedule.pk, due=due, next_at=later) is True
    assert schedules.schedule_claim(schedule_id=schedule.pk, due=due, next_at=later) is False

    PipelineSchedule.objects.filter(pk=schedule.pk).update(next_run_at=due)
    assert schedules.schedules_run_due() == 1
    assert schedules.schedules_run_due() == 0
    [pipeline] = Pipeline.objects.filter(pipeline_schedule=schedule)
    assert (pipeline.source, pipeline.ref) == ("schedule", "main")
    schedule.refresh_from_db()
    assert schedule.next_run_at is not None and schedule.next_run_at > timezone.now()

    PipelineSchedule.objects.filter(pk=schedule.pk).update(next_run_at=due, active=False)
    assert schedules.schedules_run_due() == 0  # inactive schedules never run


def _count(client: Client, token: str, url: str) -> int:
    client.get(url, HTTP_PRIVATE_TOKEN=token)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, HTTP_PRIVATE_TOKEN=token)
    assert response.status_code == 200, (url, response.content[:300])
    return len(ctx.captured_queries)


@pytest.mark.django_db
@pytest.mark.usefixtures("remove_repositories")
def test_schedule_and_trigger_lists_cost_the_same_for_more_rows() -> None:
    owner = accounts.user_create(username="sched-budget", email="sb@example.com", name="S", is_admin=True)
    _, token = accounts.token_create(user=owner, name="t", scopes=["api"])
    group = groups.group_create(actor=owner, name="Sched grp2", path="sched-grp2")
    project = projects.project_create(actor=owner, namespace=group, name="app")
    urls = [f"/api/v4/projects/{project.pk}/pipeline_schedules", f"/api/v4/projects/{project.pk}/triggers"]

    def grow(n: int) -> None:
        for i in range(n):
            user = accounts.user_create(username=f"sb{i}-{n}", email=f"sb{i}-{n}@example.com", name="U")
            schedules.schedule_create(project=project, owner=user, description=f"s{i}", ref="main", cron="0 * * * *")
            triggers.trigger_create(project_id=project.pk, owner=user, description=f"t{i}")

    client = Client()
    grow(1)
    before = {url: _count(client, token, url) for url in urls}
    grow(4)
    after = {url: _count(client, token, url) for url in urls}
    assert after == before
