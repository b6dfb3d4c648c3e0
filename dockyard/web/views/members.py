"""Members of a project (``/<project>/-/project_members``) and of a group (``/groups/<path>/-/group_members``).

Everyone who may see the project or group sees its members, direct and inherited; those the policy lets
administer members (maintainers of a project, owners of a group, admins) also get the forms to add,
change and remove. The forms post to their own URLs and redirect back (no script needed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from dockyard.accounts import selectors as accounts
from dockyard.accounts.models import User
from dockyard.core.errors import Conflict, DockyardError, Forbidden, ValidationFailed
from dockyard.namespaces.models import Namespace
from dockyard.permissions import policy, selectors, services
from dockyard.permissions.models import AccessLevel, Membership
from dockyard.projects.models import Project
from dockyard.web.views.common import (
    form_errors,
    group_for,
    paginate,
    project_for,
    require,
    signed_in,
    viewer,
)

Source = Project | Namespace

# The roles a membership can hold, lowest first (GitLab's order in its role menus).
ROLES = [
    (level.value, level.label)
    for level in (
        AccessLevel.GUEST,
        AccessLevel.PLANNER,
        AccessLevel.REPORTER,
        AccessLevel.DEVELOPER,
        AccessLevel.MAINTAINER,
        AccessLevel.OWNER,
    )
]
LABELS = {"username": "Username", "access_level": "Role", "expires_at": "Expiration date"}


@dataclass
class Row:
    """One member as the page lists it: the membership that gives them their role, and where it comes from."""

    membership: Membership
    inherited_from: Namespace | None  # the group above, for an inherited membership; None when direct

    @property
    def user(self) -> User:
        return self.membership.user


def _admin_action(source: Source) -> str:
    return "admin_project_member" if isinstance(source, Project) else "admin_group_member"


def _members_url(source: Source) -> str:
    if isinstance(source, Project):
        return f"/{source.full_path}/-/project_members"
    return f"/groups/{source.full_path}/-/group_members"


def _parse_level(raw: str) -> int:
    try:
        level = int(raw)
    except ValueError:
        level = -1
    if level not in {value for value, _ in ROLES}:
        raise ValidationFailed({"access_level": ["must be one of the roles"]})
    return level


def _parse_expiry(raw: str) -> dt.date | None:
    if not raw:
        return None
    try:
        date = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed({"expires_at": ["is not a valid date"]}) from None
    if date <= dt.date.today():
        raise ValidationFailed({"expires_at": ["must be in the future"]})
    return date


def _explain(exc: DockyardError, level: int | None) -> dict[str, list[str]]:
    """A service's refusal in the form's words."""
    if isinstance(exc, Conflict):
        return {"username": ["Username is already a direct member."]}
    if isinstance(exc, Forbidden) and level == AccessLevel.OWNER:
        return {"access_level": ["Only owners can give the Owner role."]}
    return form_errors(exc, labels=LABELS)


def _page(
    request: HttpRequest, source: Source, *, values: dict[str, str], errors: dict[str, list[str]]
) -> HttpResponse:
    user = viewer(request)
    listing = paginate(request, selectors.member_users(source=source, inherited=True))
    memberships = selectors.memberships_for(source=source, users=listing.items, inherited=True)
    own_project = isinstance(source, Project)
    rows = [
        Row(
            membership=m,
            inherited_from=(
                None if (m.project_id == source.pk if own_project else m.namespace_id == source.pk) else m.namespace
            ),
        )
        for m in memberships
    ]
    context = {
        "source": source,
        "project": source if own_project else None,
        "group": None if own_project else source,
        "rows": rows,
        "members": listing,
        "can_admin": policy.can(user, _admin_action(source), source),
        "roles": ROLES,
        "values": values,
        "errors": errors,
        "members_url": _members_url(source),
        "min_date": (dt.date.today() + dt.timedelta(days=1)).isoformat(),
        "nav": "members",
    }
    template = "web/members/project.html" if own_project else "web/members/group.html"
    return render(request, template, context, status=400 if errors else 200)


def _index(request: HttpRequest, source: Source) -> HttpResponse:
    values = {"username": "", "access_level": str(AccessLevel.GUEST.value), "expires_at": ""}
    if request.method != "POST":
        return _page(request, source, values=values, errors={})
    actor = signed_in(request)
    require(actor, _admin_action(source), source)
    values = {key: request.POST.get(key, "").strip() for key in values}
    level: int | None = None
    try:
        errors: dict[str, list[str]] = {}
        if not values["username"]:
            errors["username"] = ["can't be blank"]
        try:
            level = _parse_level(values["access_level"])
        except ValidationFailed as exc:
            errors.update(exc.errors)
        try:
            expires_at = _parse_expiry(values["expires_at"])
        except ValidationFailed as exc:
            errors.update(exc.errors)
        if errors:
            raise ValidationFailed(errors)
        target = accounts.user_list(username=values["username"].removeprefix("@")).first()
        if target is None:
            raise ValidationFailed({"username": ["does not match any user"]})
        assert level is not None
        services.member_add(actor=actor, source=source, user=target, access_level=level, expires_at=expires_at)
    except DockyardError as exc:
        return _page(request, source, values=values, errors=_explain(exc, level))
    messages.success(request, f"Added {target.username} as {AccessLevel(level).label}.")
    return redirect(_members_url(source))


def _update(request: HttpRequest, source: Source, user_id: int) -> HttpResponse:
    actor = signed_in(request)
    require(actor, _admin_action(source), source)
    target = _member(user_id)
    level: int | None = None
    try:
        level = _parse_level(request.POST.get("access_level", ""))
        expires_at = _parse_expiry(request.POST.get("expires_at", "").strip())
        services.member_update(actor=actor, source=source, user=target, access_level=level, expires_at=expires_at)
    except DockyardError as exc:
        reasons = " ".join(e for errs in _explain(exc, level).values() for e in errs)
        messages.error(request, f"Could not change {target.username}'s membership. {reasons}")
    else:
        messages.success(request, f"{target.username} is now {AccessLevel(level).label}.")
    return redirect(_members_url(source))


def _remove(request: HttpRequest, source: Source, user_id: int) -> HttpResponse:
    actor = signed_in(request)
    target = _member(user_id)
    leaving = target.pk == actor.pk
    if not leaving:
        # Members may leave on their own; removing someone else takes the right to administer members.
        require(actor, _admin_action(source), source)
    try:
        services.member_remove(actor=actor, source=source, user=target)
    except DockyardError as exc:
        messages.error(request, str(exc.message).removeprefix("403 Forbidden - "))
        return redirect(_members_url(source))
    if leaving:
        messages.success(request, f"You left {source.name}.")
        return redirect("web:home")
    messages.success(request, f"Removed {target.username}.")
    return redirect(_members_url(source))


def _member(user_id: int) -> User:
    target = accounts.user_get(ref=str(user_id))
    if target is None:
        raise Http404("User Not Found")
    return target


# --- projects -------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def project_index(request: HttpRequest, namespace_path: str, project_path: str) -> HttpResponse:
    if request.method == "POST" and viewer(request) is None:
        raise Http404("Not Found")
    return _index(request, project_for(request, namespace_path, project_path))


@require_POST
@login_required
def project_update(request: HttpRequest, namespace_path: str, project_path: str, user_id: int) -> HttpResponse:
    return _update(request, project_for(request, namespace_path, project_path), user_id)


@require_POST
@login_required
def project_remove(request: HttpRequest, namespace_path: str, project_path: str, user_id: int) -> HttpResponse:
    return _remove(request, project_for(request, namespace_path, project_path), user_id)


# --- groups ---------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def group_index(request: HttpRequest, full_path: str) -> HttpResponse:
    if request.method == "POST" and viewer(request) is None:
        raise Http404("Not Found")
    return _index(request, group_for(request, full_path))


@require_POST
@login_required
def group_update(request: HttpRequest, full_path: str, user_id: int) -> HttpResponse:
    return _update(request, group_for(request, full_path), user_id)


@require_POST
@login_required
def group_remove(request: HttpRequest, full_path: str, user_id: int) -> HttpResponse:
    return _remove(request, group_for(request, full_path), user_id)
