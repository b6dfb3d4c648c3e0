"""Who a notification reaches (``notifications.selectors.recipients``): levels set on a project, its groups
and globally, the nearest winning; watchers; mentions; permissions. No mail is sent here."""

from __future__ import annotations

import pytest
from django.test import Client

from dockyard.issues import services as issues
from dockyard.namespaces import services as groups
from dockyard.notifications import selectors, services
from dockyard.permissions import policy
from dockyard.permissions import services as members
from dockyard.permissions.models import AccessLevel
from dockyard.projects import services as projects
from tests.web.test_pages import make_user, signed_in


@pytest.mark.django_db
def test_levels_watchers_mentions_and_permissions() -> None:
    owner, watcher, quiet, mentioned_only, guest, stranger = (
        make_user(n) for n in ("owner", "watcher", "quiet", "mentiononly", "guest", "stranger")
    )
    top = groups.group_create(actor=owner, name="Top", path="top")
    sub = groups.group_create(actor=owner, name="Sub", path="sub", parent=top)
    project = projects.project_create(actor=owner, namespace=sub, name="app")
    for user in (watcher, quiet, mentioned_only):
        members.member_add(actor=owner, source=top, user=user, access_level=AccessLevel.DEVELOPER)
    members.member_add(actor=owner, source=project, user=guest, access_level=AccessLevel.GUEST)
    services.setting_update(user=watcher, level="watch", namespace=top)
    services.setting_update(user=quiet, level="watch")  # globally watching...
    services.setting_update(user=quiet, level="disabled", namespace=sub)  # ...but not this subgroup
    services.setting_update(user=quiet, level="global", project=project)  # "as above": the subgroup decides
    services.setting_update(user=mentioned_only, level="mention")
    services.setting_update(user=stranger, level="watch")  # global watch, but no member of the project

    levels = selectors.levels_for(user_ids=[u.pk for u in (watcher, quiet, mentioned_only, guest)], project=project)
    assert levels == {
        watcher.pk: "watch",
        quiet.pk: "disabled",
        mentioned_only.pk: "mention",
        guest.pk: "participating",
    }
    assert selectors.setting_get(user=quiet, project=project) == "global"
    assert selectors.setting_get(user=quiet) == "watch"

    issue = issues.issue_create(actor=owner, project=project, title="Leak", confidential=True)
    text = f"@{guest.username} @{mentioned_only.username} @{quiet.username} @{owner.username}"

    def told(**kw: object) -> dict[str, str]:
        found = selectors.recipients(
            project=project,
            actor=owner,
            can_read=lambda u: policy.can_read_issue(u, issue),
            **kw,  # type: ignore[arg-type]
        )
        return {r.user.username: r.reason for r in found}

    # The guest may not read a confidential issue; the author is not told of their own words; "disabled" hears nothing.
    assert told(mentioned=selectors.mentioned_users(text), watchers=True) == {
        "mentiononly": "mentioned",
        "watcher": "watching",
    }
    # "mention" hears of nothing but mentions, not of a review request (and the guest may not read the issue).
    assert told(review_requested=[mentioned_only, guest]) == {}
    assert told(assigned=[watcher]) == {"watcher": "assigned"}


@pytest.mark.django_db
def test_the_notifications_page_sets_the_global_level() -> None:
    alice = make_user("alice")
    browser = signed_in(alice)
    page = browser.get("/-/profile/notifications").content.decode()
    assert 'value="participating" checked' in page and alice.email in page
    assert browser.post("/-/profile/notifications", {"level": "mention"}).status_code == 302
    assert selectors.setting_get(user=alice) == "mention"
    assert 'value="mention" checked' in browser.get("/-/profile/notifications").content.decode()
    refused = browser.post("/-/profile/notifications", {"level": "loud"})
    assert refused.status_code == 200 and selectors.setting_get(user=alice) == "mention"
    assert Client().get("/-/profile/notifications").status_code == 302  # to the sign-in page
