"""The signed-in user's own settings: ``/-/user_settings/profile``, ``/-/user_settings/password`` and
``/-/profile/notifications``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from dockyard.accounts import services
from dockyard.core.errors import DockyardError, ValidationFailed
from dockyard.notifications import selectors as notification_selectors
from dockyard.notifications import services as notification_services
from dockyard.web.views.common import form_errors, signed_in

PROFILE_FIELDS = ("name", "email", "public_email", "bio", "location", "website_url", "organization", "job_title")
PROFILE_LABELS = {
    "name": "Full name",
    "email": "Email",
    "public_email": "Public email",
    "bio": "Bio",
    "location": "Location",
    "website_url": "Website",
    "organization": "Organization",
    "job_title": "Job title",
}
PASSWORD_LABELS = {
    "current_password": "Current password",
    "new_password": "New password",
    "password_confirmation": "Password confirmation",
}


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    values = {key: str(getattr(user, key)) for key in PROFILE_FIELDS}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {key: request.POST.get(key, "").strip() for key in PROFILE_FIELDS}
        values["bio"] = request.POST.get("bio", "").strip()
        try:
            # GitLab offers only the account's own address as public email (or none).
            if values["public_email"] not in {"", user.email, values["email"]}:
                raise ValidationFailed({"public_email": ["must be your email address or empty"]})
            services.user_update(
                user=user,
                actor=user,
                name=values["name"],
                email=values["email"],
                public_email=values["public_email"],
                bio=values["bio"],
                location=values["location"],
                website_url=values["website_url"],
                organization=values["organization"],
                job_title=values["job_title"],
            )
        except DockyardError as exc:
            errors = form_errors(exc, labels=PROFILE_LABELS)
            user.refresh_from_db()
        else:
            messages.success(request, "Profile was successfully updated.")
            return redirect("web:user_profile")
    context = {"values": values, "errors": errors, "nav": "user_profile"}
    return render(request, "web/user_settings/profile.html", context, status=400 if errors else 200)


@sensitive_post_parameters("current_password", "new_password", "password_confirmation")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        new = request.POST.get("new_password", "")
        try:
            if new != request.POST.get("password_confirmation", ""):
                raise ValidationFailed({"password_confirmation": ["doesn't match the new password"]})
            services.user_change_password(user=user, current=request.POST.get("current_password", ""), new=new)
        except DockyardError as exc:
            errors = form_errors(exc, labels=PASSWORD_LABELS)
        else:
            # Other sessions of this user end (their hash no longer matches); this one carries on.
            update_session_auth_hash(request, user)
            messages.success(request, "Password was successfully updated.")
            return redirect("web:user_password")
    context = {"errors": errors, "nav": "user_password"}
    return render(request, "web/user_settings/password.html", context, status=400 if errors else 200)


LEVELS = (
    ("watch", "Watch", "Everything in the projects you are a member of."),
    ("participating", "Participating", "What you take part in, and mentions (the default)."),
    ("mention", "On mention", "Only when you are @mentioned."),
    ("disabled", "Disabled", "No mail at all."),
)


@login_required
@require_http_methods(["GET", "POST"])
def notifications(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            notification_services.setting_update(user=user, level=request.POST.get("level", ""))
        except DockyardError as exc:
            errors = form_errors(exc, labels={})
        else:
            messages.success(request, "Notification settings saved.")
            return redirect("web:notifications")
    level = notification_selectors.setting_get(user=user)
    context = {"level": level, "levels": LEVELS, "errors": errors, "nav": "notifications"}
    return render(request, "web/user_settings/notifications.html", context)
