"""Pipeline trigger tokens (``glptt-…``, stored as digests) and pipelines started with one, or with a
running job's ``CI_JOB_TOKEN``, through ``POST /projects/:id/trigger/pipeline`` (GitLab's
``Ci::PipelineTriggerService``)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from dockyard.accounts.models import User
from dockyard.ci import selectors
from dockyard.ci.models import Pipeline, Status, Trigger, token_digest
from dockyard.ci.services import JOB_TOKEN_PREFIX, pipeline_create
from dockyard.core.errors import BadRequest, DockyardError, NotFound, check
from dockyard.permissions import policy
from dockyard.projects import selectors as project_selectors

TRIGGER_TOKEN_PREFIX = "glptt-"
# What lists show of a token after it was created: the prefix and four characters.
SHORT_TOKEN_LENGTH = len(TRIGGER_TOKEN_PREFIX) + 4


def trigger_list(*, project_id: int) -> QuerySet[Trigger]:
    return Trigger.objects.filter(project_id=project_id).select_related("owner").order_by("id")


def trigger_get(*, project_id: int, trigger_id: int | str) -> Trigger:
    trigger = (
        trigger_list(project_id=project_id).filter(pk=int(trigger_id) if str(trigger_id).isdigit() else -1).first()
    )
    if trigger is None:
        raise NotFound("Trigger")
    return trigger


def _description_errors(description: str | None) -> dict[str, list[str]]:
    if description is not None and len(description) > 255:
        return {"description": ["is too long (maximum is 255 characters)"]}
    return {}


@transaction.atomic
def trigger_create(*, project_id: int, owner: User, description: str) -> tuple[Trigger, str]:
    """A new trigger and its token, which is shown this once."""
    check(_description_errors(description))
    token = TRIGGER_TOKEN_PREFIX + secrets.token_urlsafe(20)
    trigger = Trigger.objects.create(
        project_id=project_id,
        owner=owner,
        description=description,
        token_digest=token_digest(token),
        short_token=token[:SHORT_TOKEN_LENGTH],
    )
    return trigger, token


@transaction.atomic
def trigger_update(*, trigger: Trigger, description: str | None) -> Trigger:
    check(_description_errors(description))
    if description is not None:
        trigger.description = description
        trigger.updated_at = timezone.now()
        trigger.save(update_fields=["description", "updated_at"])
    return trigger


@transaction.atomic
def trigger_delete(*, trigger: Trigger) -> None:
    trigger.delete()


def _variables(variables: Mapping[str, Any], params: Mapping[str, Any]) -> list[dict[str, str]]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
        raise DockyardError("variables needs to be a map of key-valued strings")
    out = [{"key": k, "value": v, "variable_type": "env_var"} for k, v in variables.items()]
    # GitLab hands the request (without the token) to the jobs as a file variable.
    payload = {k: v for k, v in params.items() if k != "token"}
    out.append({"key": "TRIGGER_PAYLOAD", "value": json.dumps(payload), "variable_type": "file"})
    return out


def pipeline_create_for_trigger(
    *, project_ref: str, token: str, ref: str, variables: Mapping[str, Any], params: Mapping[str, Any]
) -> Pipeline:
    """Run ``ref`` as the trigger's owner (source ``trigger``), or, for a running job's token, as the job's
    user (source ``pipeline``). A token that does not fit the project answers 404, as GitLab does, so
    it tells nothing about which projects exist."""
    if not token:
        raise BadRequest("token is missing")
    if not ref:
        raise BadRequest("ref is missing")
    trigger = Trigger.objects.select_related("owner").filter(token_digest=token_digest(token)).first()
    if trigger is not None:
        if trigger.owner is None or (trigger.expires_at is not None and trigger.expires_at < timezone.now()):
            raise NotFound()
        project = project_selectors.project_get_for(viewer=trigger.owner, ref=project_ref)
        if project.pk != trigger.project_id or not policy.can_on_project_ci(trigger.owner, "create_pipeline", project):
            raise NotFound()
        Trigger.objects.filter(pk=trigger.pk).update(last_used=timezone.now())
        user, source = trigger.owner, "trigger"
    elif token.startswith(JOB_TOKEN_PREFIX):
        job = selectors.job_by_token(token=token)
        if job is None or job.status != Status.RUNNING or job.user is None:
            raise NotFound()
        project = project_selectors.project_get_for(viewer=job.user, ref=project_ref)
        user, source = job.user, "pipeline"
    else:
        raise NotFound()
    pipeline = pipeline_create(
        project=project,
        user=user,
        ref=ref,
        source=source,
        variables=_variables(variables, params),
        refuse_errors=True,
    )
    assert pipeline is not None  # refuse_errors: no pipeline raises instead
    return pipeline
