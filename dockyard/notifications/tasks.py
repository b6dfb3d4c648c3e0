"""Sending notification mails, in the background worker: never inside a request. One task per change;
it works out the recipients (``selectors.recipients``), renders one plain-text + HTML mail per recipient
(each sees only their own address) and sends them over one SMTP connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django_tasks import task

from dockyard.accounts.models import User
from dockyard.core.logging import get_logger
from dockyard.notifications import selectors
from dockyard.notifications.selectors import Recipient
from dockyard.permissions import policy
from dockyard.projects.models import Project

log = get_logger("dockyard.notifications")

WHY = {
    "mentioned": "you were mentioned",
    "assigned": "you were assigned",
    "review_requested": "you were asked to review",
    "participating": "you are participating",
    "watching": "you are watching this project",
}


@dataclass
class Mail:
    """One notification before it is addressed: what every recipient reads."""

    project: Project
    subject: str
    heading: str
    url: str
    link_text: str
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    recipients: list[Recipient] = field(default_factory=list)


def _name(user: User | None) -> str:
    return user.name or user.username if user is not None else "Someone"


def _issue_mail(issue: Any, base: str, heading: str, body: str = "", anchor: str = "") -> Mail:
    project = issue.project
    return Mail(
        project=project,
        subject=f"{project.name} | {issue.title} (#{issue.iid})",
        heading=heading,
        body=body,
        url=f"{base}/{project.full_path}/-/issues/{issue.iid}{anchor}",
        link_text=f"View issue #{issue.iid} on Dockyard",
        headers={"X-GitLab-Issue-IID": str(issue.iid)},
    )


def _mr_mail(mr: Any, base: str, heading: str, body: str = "", anchor: str = "") -> Mail:
    project = mr.project
    return Mail(
        project=project,
        subject=f"{project.name} | {mr.title} (!{mr.iid})",
        heading=heading,
        body=body,
        url=f"{base}/{project.full_path}/-/merge_requests/{mr.iid}{anchor}",
        link_text=f"View merge request !{mr.iid} on Dockyard",
        headers={"X-GitLab-MergeRequest-IID": str(mr.iid)},
    )


def _issue_reader(issue: Any) -> Callable[[User], bool]:
    return lambda user: policy.can_read_issue(user, issue)


def _mr_reader(mr: Any) -> Callable[[User], bool]:
    return lambda user: policy.can_on_merge_request(user, "read_merge_request", mr)


def _issue(object_id: int) -> Any:
    from dockyard.issues.models import Issue

    return Issue.objects.select_related("project__namespace", "author").filter(pk=object_id).first()


def _mr(object_id: int) -> Any:
    from dockyard.merge_requests.models import MergeRequest

    return MergeRequest.objects.select_related("project__namespace", "author").filter(pk=object_id).first()


def _issue_opened(object_id: int, actor: User | None, base: str, users: list[User]) -> Mail | None:
    if (issue := _issue(object_id)) is None:
        return None
    mail = _issue_mail(issue, base, f"{_name(actor)} opened issue #{issue.iid}: {issue.title}", issue.description)
    mail.recipients = selectors.recipients(
        project=issue.project,
        actor=actor,
        can_read=_issue_reader(issue),
        mentioned=selectors.mentioned_users(issue.description),
        assigned=issue.assignees.all(),
        watchers=True,
    )
    return mail


def _issue_assigned(object_id: int, actor: User | None, base: str, users: list[User]) -> Mail | None:
    if (issue := _issue(object_id)) is None:
        return None
    names = ", ".join(_name(u) for u in users)
    mail = _issue_mail(issue, base, f"{_name(actor)} assigned issue #{issue.iid} to {names}: {issue.title}")
    mail.recipients = selectors.recipients(
        project=issue.project, actor=actor, can_read=_issue_reader(issue), assigned=users
    )
    return mail


def _mr_participants(mr: Any) -> list[User]:
    return [u for u in (mr.author, *mr.assignees.all(), *mr.reviewers.all()) if u is not None]


def _mr_opened(object_id: int, actor: User | None, base: str, users: list[User]) -> Mail | None:
    if (mr := _mr(object_id)) is None:
        return None
    heading = f"{_name(actor)} opened merge request !{mr.iid}: {mr.title} ({mr.source_branch} → {mr.target_branch})"
    mail = _mr_mail(mr, base, heading, mr.description)
    mail.recipients = selectors.recipients(
        project=mr.project,
        actor=actor,
        can_read=_mr_reader(mr),
        mentioned=selectors.mentioned_users(mr.description),
        assigned=mr.assignees.all(),
        review_requested=mr.reviewers.all(),
        watchers=True,
    )
    return mail


def _mr_people(reason: str) -> Callable[[int, User | None, str, list[User]], Mail | None]:
    """Mails to the people newly assigned to (``assigned``) or asked to review (``review_requested``) an MR."""

    def build(object_id: int, actor: User | None, base: str, users: list[User]) -> Mail | None:
        if (mr := _mr(object_id)) is None:
            return None
        if reason == "assigned":
            what = f"assigned merge request !{mr.iid} to {', '.join(_name(u) for u in users)}"
        else:
            what = f"requested a review of merge request !{mr.iid}"
        mail = _mr_mail(mr, base, f"{_name(actor)} {what}: {mr.title}")
        assigned, review_requested = (users, []) if reason == "assigned" else ([], users)
        mail.recipients = selectors.recipients(
            project=mr.project,
            actor=actor,
            can_read=_mr_reader(mr),
            assigned=assigned,
            review_requested=review_requested,
        )
        return mail

    return build


def _mr_merged(object_id: int, actor: User | None, base: str, users: list[User]) -> Mail | None:
    if (mr := _mr(object_id)) is None:
        return None
    heading = (
        f"Merge request !{mr.iid} was merged by {_name(actor)}: {mr.title} ({mr.source_branch} → {mr.target_branch})"
    )
    mail = _mr_mail(mr, base, heading)
    mail.recipients = selectors.recipients(
        project=mr.project, actor=actor, can_read=_mr_reader(mr), participants=_mr_participants(mr), watchers=True
    )
    return mail


def _note_created(object_id: int, actor: User | None, base: str, users: list[User]) -> Mail | None:
    from dockyard.notes.models import Note

    note = (
        Note.objects.select_related("project__namespace", "issue__author", "merge_request__author")
        .filter(pk=object_id)
        .first()
    )
    if note is None:
        return None
    anchor = f"#note_{note.pk}"
    heading = f"{_name(actor)} commented"
    if note.issue is not None:
        issue = note.issue
        mail = _issue_mail(issue, base, f"{heading} on issue #{issue.iid}: {issue.title}", note.body, anchor)
        read_noteable = _issue_reader(issue)
        participants = [u for u in (issue.author, *issue.assignees.all()) if u is not None]
    else:
        mr = note.merge_request
        assert mr is not None  # a note belongs to an issue or a merge request (note_one_noteable)
        mail = _mr_mail(mr, base, f"{heading} on merge request !{mr.iid}: {mr.title}", note.body, anchor)
        read_noteable = _mr_reader(mr)
        participants = _mr_participants(mr)

    def can_read(user: User) -> bool:
        if note.internal and not policy.can_on_project_issues(user, "read_internal_note", note.project):
            return False
        return read_noteable(user)

    mail.recipients = selectors.recipients(
        project=note.project,
        actor=actor,
        can_read=can_read,
        mentioned=selectors.mentioned_users(note.body),
        participants=participants,
        watchers=True,
    )
    return mail


def _pipeline_failed(object_id: int, actor: User | None, base: str, users: list[User]) -> Mail | None:
    from dockyard.ci.models import Pipeline

    pipeline = Pipeline.objects.select_related("project__namespace", "user").filter(pk=object_id).first()
    if pipeline is None or pipeline.user is None:
        return None
    project = pipeline.project
    mail = Mail(
        project=project,
        subject=f"Failed pipeline for {pipeline.ref} | {project.name} | {pipeline.sha[:8]}",
        heading=f"Your pipeline #{pipeline.pk} for {pipeline.ref} ({pipeline.sha[:8]}) has failed.",
        url=f"{base}/{project.full_path}/-/pipelines/{pipeline.pk}",
        link_text=f"View pipeline #{pipeline.pk} on Dockyard",
        headers={"X-GitLab-Pipeline-Id": str(pipeline.pk), "X-GitLab-Pipeline-Status": "failed"},
    )
    mail.recipients = selectors.recipients(
        project=project,
        actor=None,  # the pipeline's own user is exactly who must hear of it
        can_read=lambda user: policy.can_on_project_ci(user, "read_pipeline", project),
        participants=[pipeline.user],
    )
    return mail


BUILDERS: dict[str, Callable[[int, User | None, str, list[User]], Mail | None]] = {
    "issue_opened": _issue_opened,
    "issue_assigned": _issue_assigned,
    "merge_request_opened": _mr_opened,
    "merge_request_assigned": _mr_people("assigned"),
    "merge_request_review_requested": _mr_people("review_requested"),
    "merge_request_merged": _mr_merged,
    "note_created": _note_created,
    "pipeline_failed": _pipeline_failed,
}


def _message(mail: Mail, recipient: Recipient, base: str) -> EmailMultiAlternatives:
    context = {
        "heading": mail.heading,
        "body": mail.body,
        "url": mail.url,
        "link_text": mail.link_text,
        "why": WHY[recipient.reason],
        "settings_url": f"{base}/-/profile/notifications",
    }
    message = EmailMultiAlternatives(
        subject=mail.subject,
        body=render_to_string("notifications/mail.txt", context),
        to=[recipient.user.email],
        headers={
            "X-GitLab-Project": mail.project.name,
            "X-GitLab-Project-Id": str(mail.project.pk),
            "X-GitLab-Project-Path": mail.project.full_path,
            "X-GitLab-NotificationReason": recipient.reason,
            "List-Id": f"{mail.project.full_path} <{mail.project.pk}.dockyard>",
            **mail.headers,
        },
    )
    message.attach_alternative(render_to_string("notifications/mail.html", context), "text/html")
    return message


@task()
def notification_send(kind: str, object_id: int, actor_id: int | None, base: str, user_ids: list[int]) -> int:
    """Mail everyone ``kind`` concerns (``user_ids``: the newly assigned or asked to review). Returns the
    number of mails sent. An SMTP failure fails the task, and the worker logs it."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    users = list(User.objects.filter(pk__in=user_ids)) if user_ids else []
    mail = BUILDERS[kind](object_id, actor, base, users)
    if mail is None or not mail.recipients:
        return 0
    messages = [_message(mail, recipient, base) for recipient in mail.recipients]
    sent = get_connection().send_messages(messages)
    log.info("notification_sent", kind=kind, object_id=object_id, mails=sent)
    return int(sent or 0)
