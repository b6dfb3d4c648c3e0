"""Notification mails arrive at a real SMTP server (aiosmtpd on loopback) that a live ``dockyard serve``
sends to from its background worker: a mention, a failed pipeline, and nothing for who turned them off."""

from __future__ import annotations

import email
import email.policy
import secrets
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import gitlab
import pytest
import requests
from aiosmtpd.controller import Controller

from tests.api.test_gitlab_client import _name, _user
from tests.ci.test_pipelines import RunnerClient, wait_for
from tests.conftest import BACKEND
from tests.live import LiveServer, free_port

DEVELOPER = 30


class Inbox:
    """An aiosmtpd handler that keeps every mail it is given."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.mails.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.mails if m["To"] == address]


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def mail_server(inbox: tuple[Inbox, int]) -> Iterator[LiveServer]:
    env = {
        "DOCKYARD_SMTP_HOST": "127.0.0.1",
        "DOCKYARD_SMTP_PORT": str(inbox[1]),
        "DOCKYARD_EMAIL_FROM": "Dockyard <noreply@dockyard.test>",
        "DOCKYARD_CI_LONG_POLL_SECONDS": "1",
    }
    server = LiveServer(backend=BACKEND, extra_env=env).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def root(mail_server: LiveServer) -> gitlab.Gitlab:
    gl = gitlab.Gitlab(mail_server.url, private_token=mail_server.root_token)
    gl.auth()
    return gl


def _body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None, kind
    return str(part.get_content())


def test_a_mention_mails_the_mentioned_user_and_not_who_turned_mails_off(
    root: gitlab.Gitlab, inbox: tuple[Inbox, int]
) -> None:
    mails = inbox[0]
    group = root.groups.create({"name": _name("Mail"), "path": _name("mail"), "visibility": "private"})
    project = root.projects.create({"name": "tracker", "namespace_id": group.id, "visibility": "private"})
    alice, _ = _user(root, "alice")
    bob, bob_gl = _user(root, "bob")
    carol, carol_gl = _user(root, "carol")
    outsider, _ = _user(root, "outsider")
    for member in (alice, bob, carol):
        project.members.create({"user_id": member.id, "access_level": DEVELOPER})
    # Bob turns every mail off; Carol only for this project's group.
    settings = bob_gl.notificationsettings.get()
    assert (settings.level, settings.notification_email) == ("participating", bob.email)
    settings.level = "disabled"
    settings.save()
    assert bob_gl.notificationsettings.get().level == "disabled"
    carol_group = carol_gl.groups.get(group.id, lazy=True).notificationsettings.get()
    assert carol_group.level == "global"
    carol_group.level = "disabled"
    carol_group.save()
    assert carol_gl.projects.get(project.id, lazy=True).notificationsettings.get().level == "global"

    issue = project.issues.create({"title": "Boiler pressure"})
    # Alice is mentioned last: her mail comes after any the others would have got from the same task.
    issue.notes.create({"body": f"@{bob.username} @{carol.username} @{outsider.username} and @{alice.username}: look"})

    mail = wait_for(lambda: mails.to(alice.email))[0]
    assert mail["Subject"] == f"{project.name} | Boiler pressure (#{issue.iid})"
    assert mail["From"] == "Dockyard <noreply@dockyard.test>"
    assert mail["X-GitLab-NotificationReason"] == "mentioned"
    assert mail["X-GitLab-Project-Path"] == project.path_with_namespace
    url = f"{root.url}/{project.path_with_namespace}/-/issues/{issue.iid}#note_"
    text = _body(mail, "plain")
    assert f"commented on issue #{issue.iid}: Boiler pressure" in text
    assert f"and @{alice.username}: look" in text and url in text
    html = _body(mail, "html")
    assert f'<a href="{url}' in html
    # Bob disabled mails, Carol disabled them for the group, the outsider may not see the private project.
    assert mails.to(bob.email) == [] and mails.to(carol.email) == [] and mails.to(outsider.email) == []
    # The issue's author (root) is never told of their own comment.
    assert mails.to(root.user.email) == []  # type: ignore[union-attr]


def test_a_failed_pipeline_mails_its_user(
    mail_server: LiveServer, root: gitlab.Gitlab, inbox: tuple[Inbox, int]
) -> None:
    mails = inbox[0]
    project = root.projects.create({"name": _name("app"), "initialize_with_readme": True})
    dev, dev_gl = _user(root, "dev")
    project.members.create({"user_id": dev.id, "access_level": DEVELOPER})
    response = requests.post(
        f"{mail_server.url}/api/v4/user/runners",
        json={"runner_type": "project_type", "project_id": project.id, "description": "mail test"},
        headers={"PRIVATE-TOKEN": mail_server.root_token},
    )
    assert response.status_code == 201, response.text
    runner = RunnerClient(mail_server.url, response.json()["token"])
    # The developer's push (to a branch of their own: main is protected) starts the pipeline, so it is theirs.
    dev_gl.projects.get(project.id, lazy=True).files.create(
        {"file_path": ".gitlab-ci.yml", "branch": "ci", "start_branch": "main",
         "content": "test:\n  script: [make test]\n", "commit_message": f"CI {secrets.token_hex(2)}"}
    )  # fmt: skip
    runner.run(runner.take("test"), exit_code=1)
    mail = wait_for(lambda: mails.to(dev.email))[0]
    pipeline = project.pipelines.get(project.pipelines.list(get_all=True)[0].id)
    assert pipeline.status == "failed" and pipeline.user["username"] == dev.username
    assert mail["Subject"].startswith(f"Failed pipeline for ci | {project.name} | ")
    assert mail["X-GitLab-Pipeline-Status"] == "failed"
    assert f"{root.url}/{project.path_with_namespace}/-/pipelines/{pipeline.id}" in _body(mail, "plain")
