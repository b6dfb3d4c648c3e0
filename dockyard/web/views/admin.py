"""The admin area: ``/admin/users`` and ``/admin/audit_events`` (404 for everyone but admins)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from dockyard.accounts import selectors, services
from dockyard.accounts.models import User
from dockyard.core.errors import DockyardError
from dockyard.events import selectors as events
from dockyard.web.views.common import admin_only, paginate, signed_in


def _user(username: str) -> User:
    user = selectors.user_list(username=username).first()
    if user is None:
        raise Http404("User Not Found")
    return user


def _back(request: HttpRequest) -> HttpResponse:
    # Back to the page (and search) the admin acted from.
    query = QueryDict(request.POST.get("return_query", "")).urlencode()  # re-encoded: no header injection
    return redirect(f"/admin/users?{query}" if query else "/admin/users")


@require_GET
@admin_only
def users(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("search", "").strip()
    rows = selectors.user_list(search=search or None).order_by("username", "id")
    context = {"users": paginate(request, rows), "search": search, "nav": "admin_users"}
    return render(request, "web/admin/users.html", context)


@require_GET
@admin_only
def audit_events(request: HttpRequest) -> HttpResponse:
    listing = paginate(request, events.audit_event_list())
    return render(request, "web/admin/audit_events.html", {"listing": listing, "nav": "admin_audit_events"})


@require_POST
@admin_only
def block(request: HttpRequest, username: str) -> HttpResponse:
    target = _user(username)
    try:
        services.user_block(user=target, actor=signed_in(request))
    except DockyardError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, f"Blocked {target.username}.")
    return _back(request)


@require_POST
@admin_only
def unblock(request: HttpRequest, username: str) -> HttpResponse:
    target = _user(username)
    services.user_unblock(user=target)
    messages.success(request, f"Unblocked {target.username}.")
    return _back(request)


@require_POST
@admin_only
def set_admin(request: HttpRequest, username: str) -> HttpResponse:
    target = _user(username)
    make_admin = request.POST.get("is_admin") == "true"
    try:
        services.user_update(user=target, actor=signed_in(request), is_admin=make_admin)
    except DockyardError as exc:
        messages.error(request, str(exc.message))
    else:
        verb = "is now an administrator" if make_admin else "is no longer an administrator"
        messages.success(request, f"{target.username} {verb}.")
    return _back(request)
