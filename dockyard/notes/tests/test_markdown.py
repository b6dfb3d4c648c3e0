"""Markdown rendering: GitLab-flavoured syntax, sanitising, and references linked only where visible."""

from __future__ import annotations

import pytest

from dockyard.accounts import services as accounts
from dockyard.accounts.models import User
from dockyard.core.markdown import render
from dockyard.core.visibility import Visibility
from dockyard.issues import services as issues
from dockyard.namespaces import services as groups
from dockyard.notes import quick_actions, references
from dockyard.projects import services as projects
from dockyard.projects.models import Project


def test_gitlab_flavoured_syntax() -> None:
    html = render("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ https://example.com\n\n- [x] done\n- [ ] todo")
    assert "<table>" in html and "<td>1</td>" in html
    assert "<s>old</s>" in html
    assert '<a href="https://example.com"' in html
    assert 'type="checkbox"' in html and "checked" in html


def test_fenced_code_is_highlighted_and_not_linked() -> None:
    html = render("```python\nprint('#1')\n```", linker=lambda t: "LINKED")
    assert '<span class="nb">print</span>' in html and "LINKED" not in html


def test_dangerous_html_is_removed() -> None:
    html = render('<script>alert(1)</script><a href="javascript:alert(1)">x</a><img src=x onerror="alert(1)">')
    assert "<script" not in html and "javascript:" not in html and "onerror" not in html
    assert "alert(1)</a>" not in html


def test_quick_action_parsing() -> None:
    parsed = quick_actions.parse('Hi\n/label ~bug ~"two words"\n```\n/close\n```\n/unknown thing\n/close', kind="issue")
    assert [(c.name, c.arg) for c in parsed.commands] == [("label", '~bug ~"two words"'), ("close", "")]
    assert parsed.body == "Hi\n```\n/close\n```\n/unknown thing"
    assert quick_actions.label_titles('~bug ~"two words" plain') == ["bug", "two words", "plain"]
    assert quick_actions.parse("/approve", kind="issue").commands == []  # a merge request action


def _user(name: str) -> User:
    return accounts.user_create(username=name, email=f"{name}@example.com", name=name.title())


@pytest.mark.django_db
def test_references_link_what_the_viewer_may_see() -> None:
    owner, outsider, alice = _user("owner"), _user("outsider"), _user("alice")
    group = groups.group_create(actor=owner, name="Acme", path="acme", visibility=Visibility.PUBLIC)
    project = projects.project_create(actor=owner, namespace=group, name="app", visibility=Visibility.PUBLIC)
    hidden = projects.project_create(actor=owner, namespace=group, name="hidden")
    open_issue = issues.issue_create(actor=owner, project=project, title="Open one")
    secret = issues.issue_create(actor=owner, project=project, title="Secret one", confidential=True)
    other = issues.issue_create(actor=owner, project=hidden, title="Elsewhere")
    issues.label_create(actor=owner, project=project, name="bug", color="#ff0000")
    issues.label_create(actor=owner, project=project, name="two words", color="#00ff00")
    issues.milestone_create(actor=owner, project=project, title="v1.0")
    text = (
        f'See #{open_issue.iid}, #{secret.iid}, acme/hidden#{other.iid}, #999, !3, @alice, ~bug, ~"two words", '
        f"%v1.0 and mail@example.com and `#{open_issue.iid}`"
    )

    def render_for(viewer: User | None) -> str:
        return references.render(text, project=Project.objects.get(pk=project.pk), viewer=viewer)

    for_owner = render_for(owner)
    assert f'/acme/app/-/issues/{open_issue.iid}"' in for_owner
    assert f'/acme/app/-/issues/{secret.iid}"' in for_owner
    assert f'/acme/hidden/-/issues/{other.iid}"' in for_owner
    assert f'/{alice.username}" class="gfm gfm-project_member"' in for_owner
    assert 'data-reference-type="label"' in for_owner and for_owner.count('data-reference-type="label"') == 2
    assert 'data-reference-type="milestone"' in for_owner
    assert "#999" in for_owner and "/-/issues/999" not in for_owner
    assert "!3" in for_owner and "merge_requests" not in for_owner
    assert "mailto:mail@example.com" in for_owner and 'gfm-project_member">@example' not in for_owner
    assert f"<code>#{open_issue.iid}</code>" in for_owner

    for viewer in (outsider, None):
        html = render_for(viewer)
        assert f'/acme/app/-/issues/{open_issue.iid}"' in html
        assert f'/acme/app/-/issues/{secret.iid}"' not in html and f"#{secret.iid}" in html
        assert "Secret one" not in html
        assert "/acme/hidden/" not in html


@pytest.mark.django_db
def test_reference_resolution_is_batched() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    owner = _user("batch")
    project = projects.project_create(actor=owner, namespace=owner.namespace, name="p")
    for i in range(5):
        issues.issue_create(actor=owner, project=project, title=f"i{i}")
    project = Project.objects.select_related("namespace").get(pk=project.pk)

    def count(text: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            references.render(text, project=project, viewer=owner)
        return len(ctx.captured_queries)

    assert count("#1 @batch ~x %y") == count("#1 #2 #3 #4 #5 @batch @nobody ~x ~z %y %w")
