"""GitLab references in Markdown: ``#12``, ``group/project#12``, ``!34``, ``@user``, ``~label``,
``~"two words"``, ``%milestone``, rendered as links.

Resolution is batched: one pass collects every reference in the text, then at most one query per kind
(projects, issues, users, labels, milestones) resolves them all, so rendering costs the same for one
reference or a hundred. Nothing the viewer may not see is linked: issues go through the same visibility
condition as lists (confidential ones stay plain text for outsiders) and other projects must be visible.
Merge request references (``!34``) are recognised but left as text until merge requests exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db.models import Q

from dockyard.accounts.models import User
from dockyard.core import markdown
from dockyard.core.markdown import escape
from dockyard.core.urls import absolute
from dockyard.issues.models import Issue, Label, Milestone
from dockyard.permissions import policy
from dockyard.projects.models import Project

_PATH = r"[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)+"
REFERENCE = re.compile(
    r"(?<![\w@#~%!/.&-])(?:"
    rf"(?P<issue>(?:(?P<ipath>{_PATH}))?#(?P<iid>\d+))"
    rf"|(?P<mr>(?:(?P<mpath>{_PATH}))?!(?P<miid>\d+))"
    r"|(?P<user>@(?P<username>[A-Za-z0-9_][A-Za-z0-9_.\-]*[A-Za-z0-9_]|[A-Za-z0-9_]))"
    r'|(?P<label>~(?:"(?P<lq>[^"\n]+)"|(?P<lw>[\w\-]+(?:::[\w\-]+)*)))'
    r'|(?P<milestone>%(?:"(?P<mq>[^"\n]+)"|(?P<mw>[\w\-]+(?:\.[\w\-]+)*)))'
    r")(?![\w])"
)


@dataclass
class References:
    """What the references of one text resolved to, for one viewer."""

    project: Project
    issues: dict[tuple[str, int], Issue] = field(default_factory=dict)  # (lower project path, iid)
    users: dict[str, User] = field(default_factory=dict)  # lower username
    labels: dict[str, Label] = field(default_factory=dict)
    milestones: dict[str, Milestone] = field(default_factory=dict)


def resolve(text: str, *, project: Project, viewer: User | None) -> References:
    """Find and resolve every reference in ``text`` (written in ``project``) for ``viewer``."""
    refs = References(project=project)
    own = project.full_path.lower()
    issue_keys: set[tuple[str, int]] = set()
    usernames: set[str] = set()
    labels: set[str] = set()
    milestones: set[str] = set()
    for m in REFERENCE.finditer(text or ""):
        if m.group("issue"):
            issue_keys.add(((m.group("ipath") or own).lower(), int(m.group("iid"))))
        elif m.group("user"):
            usernames.add(m.group("username").lower())
        elif m.group("label"):
            labels.add(m.group("lq") or m.group("lw"))
        elif m.group("milestone"):
            milestones.add(m.group("mq") or m.group("mw"))
    if issue_keys:
        projects = {own: project}
        others = {path for path, _ in issue_keys if path != own}
        if others:
            cond = Q()
            for path in others:
                ns, _, name = path.rpartition("/")
                cond |= Q(namespace__full_path__iexact=ns, path__iexact=name)
            for p in policy.visible_projects(viewer).filter(cond).select_related("namespace"):
                projects[p.full_path.lower()] = p
        cond = Q()
        for path, iid in issue_keys:
            if path in projects:
                cond |= Q(project_id=projects[path].id, iid=iid)
        if cond:
            qs = Issue.objects.filter(cond).filter(policy.issue_visibility_condition(viewer))
            by_id = {p.id: p for p in projects.values()}
            for issue in qs:
                issue.project = by_id[issue.project_id]
                refs.issues[(issue.project.full_path.lower(), issue.iid)] = issue
    if usernames:
        cond = Q()
        for name in usernames:
            cond |= Q(username__iexact=name)
        refs.users = {u.username.lower(): u for u in User.objects.filter(cond)}
    groups = project.namespace.ancestor_ids if project.namespace.is_group else []
    if labels:
        ids = [int(t) for t in labels if t.isdigit()]
        available = Label.objects.filter(Q(project=project) | Q(namespace_id__in=groups))
        for label in available.filter(Q(title__in=labels) | Q(pk__in=ids)).order_by("-project_id"):
            refs.labels.setdefault(label.title, label)
            refs.labels.setdefault(str(label.pk), label)
    if milestones:
        available_m = Milestone.objects.filter(Q(project=project) | Q(namespace_id__in=groups))
        refs.milestones = {m.title: m for m in available_m.filter(title__in=milestones)}
    return refs


def _link(href: str, text: str, kind: str, title: str = "") -> str:
    title_attr = f' title="{escape(title)}"' if title else ""
    return (
        f'<a href="{escape(href)}" class="gfm gfm-{kind}" data-reference-type="{kind}"{title_attr}>{escape(text)}</a>'
    )


def _replacement(m: re.Match[str], refs: References) -> str | None:
    project = refs.project
    if m.group("issue"):
        issue = refs.issues.get(((m.group("ipath") or project.full_path).lower(), int(m.group("iid"))))
        if issue is None:
            return None
        return _link(absolute(f"{issue.project.full_path}/-/issues/{issue.iid}"), m.group(0), "issue", issue.title)
    if m.group("user"):
        user = refs.users.get(m.group("username").lower())
        return _link(absolute(user.username), m.group(0), "project_member", user.name) if user else None
    if m.group("label"):
        label = refs.labels.get(m.group("lq") or m.group("lw"))
        if label is None:
            return None
        href = absolute(f"{project.full_path}/-/issues?label_name[]={label.title}")
        return _link(href, m.group(0), "label", label.description)
    if m.group("milestone"):
        milestone = refs.milestones.get(m.group("mq") or m.group("mw"))
        if milestone is None:
            return None
        if milestone.project_id is not None:
            href = absolute(f"{project.full_path}/-/milestones/{milestone.iid}")
        else:
            href = absolute(f"groups/{milestone.namespace.full_path}/-/milestones/{milestone.iid}")  # type: ignore[union-attr]
        return _link(href, m.group(0), "milestone", milestone.title)
    return None  # merge requests: not yet


def linker(refs: References) -> markdown.Linker:
    """A Markdown linker turning the resolved references into links and escaping everything else."""

    def link(text: str) -> str:
        out, pos = [], 0
        for m in REFERENCE.finditer(text):
            html = _replacement(m, refs)
            if html is None:
                continue
            out.append(escape(text[pos : m.start()]))
            out.append(html)
            pos = m.end()
        out.append(escape(text[pos:]))
        return "".join(out)

    return link


def render(text: str, *, project: Project, viewer: User | None) -> str:
    """``text`` (written in ``project``) as safe HTML with its references linked for ``viewer``."""
    return markdown.render(text, linker=linker(resolve(text, project=project, viewer=viewer)))
