"""Personal access tokens at GitLab's ``/-/user_settings/personal_access_tokens``."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from dockyard.accounts import selectors, services
from dockyard.accounts.models import PersonalAccessToken
from dockyard.core.errors import DockyardError, ValidationFailed
from dockyard.web.views.common import form_errors, not_found_as_404, paginate, signed_in

# The secret of a token just created, kept in the session between the POST and the one page that
# shows it (post/redirect/get), then deleted: it is never retrievable again.
SESSION_KEY = "web:created_token"
LABELS = {"name": "Token name", "expires_at": "Expiration date", "scopes": "Scopes"}
SCOPE_HELP = {
    "api": "Complete read and write access to the API, including all groups and projects.",
    "read_api": "Read access to the API, including all groups and projects.",
    "read_user": "Read-only access to your profile through the /user API endpoint.",
    "read_repository": "Read-only access to repositories with Git-over-HTTP.",
    "write_repository": "Read and write access to repositories with Git-over-HTTP.",
    "sudo": "Perform API actions as any user (administrators only).",
}
DEFAULT_LIFETIME = dt.timedelta(days=30)


def _parse_date(raw: str) -> dt.date | None:
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed({"expires_at": ["is not a valid date"]}) from None


@sensitive_variables("secret")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    errors: dict[str, list[str]] = {}
    today = timezone.now().date()
    values: dict[str, object] = {
        "name": "",
        "expires_at": (today + DEFAULT_LIFETIME).isoformat(),
        "scopes": [],
    }
    if request.method == "POST":
        values = {
            "name": request.POST.get("name", "").strip(),
            "expires_at": request.POST.get("expires_at", ""),
            "scopes": request.POST.getlist("scopes"),
        }
        try:
            token, secret = services.token_create(
                user=user,
                name=str(values["name"]),
                scopes=request.POST.getlist("scopes"),
                expires_at=_parse_date(str(values["expires_at"])),
            )
        except DockyardError as exc:
            errors = form_errors(exc, labels=LABELS)
        else:
            request.session[SESSION_KEY] = {"name": token.name, "secret": secret}
            return redirect("web:tokens")
    created = request.session.pop(SESSION_KEY, None)
    context = {
        "created": created,
        "tokens": paginate(request, selectors.token_list(user=user, state="active")),
        "values": values,
        "errors": errors,
        "scopes": [(scope, SCOPE_HELP.get(scope, "")) for scope in PersonalAccessToken.SCOPES],
        "min_date": (today + dt.timedelta(days=1)).isoformat(),
        "nav": "tokens",
    }
    return render(request, "web/settings/tokens.html", context, status=400 if errors else 200)


@login_required
@require_POST
def revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    user = signed_in(request)
    with not_found_as_404():
        token = selectors.token_get_for(viewer=user, pk=token_id)
    try:
        services.token_revoke(token=token)
    except DockyardError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, f"Revoked access token {token.name}.")
    return redirect("web:tokens")
