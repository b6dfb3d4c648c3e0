"""Sign in and sign out (Django's session auth; the cookie is GitLab's ``_gitlab_session``)."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from dockyard.accounts import selectors, services
from dockyard.web import throttle

INVALID = "Invalid login or password."
BLOCKED = "Your account has been blocked. Please contact your administrator to regain access."


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    error = None
    login_value = ""
    status = 200
    refusal = None
    if request.method == "POST":
        login_value = request.POST.get("login", "").strip()
        refusal = throttle.check(request, login_value)
        # Once refused, the password is not even checked: guessing on gains nothing.
        user = (
            None
            if refusal
            else selectors.user_authenticate_login(login=login_value, password=request.POST.get("password", ""))
        )
        if refusal is not None:
            error, status = refusal.message, 429
        elif user is None:
            throttle.record_failure(request, login_value)
            services.user_record_failed_sign_in(login=login_value)
            error, status = INVALID, 401
        elif not user.is_active:
            error, status = BLOCKED, 403
        else:
            throttle.record_success(request, login_value)
            # Our one password backend; sign-in by email is resolved by the selector above.
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            services.user_record_sign_in(user=user)
            return redirect(_next_url(request))
    context = {"error": error, "login": login_value, "next": _next_url(request)}
    response = render(request, "web/auth/sign_in.html", context, status=status)
    if refusal is not None:
        response["Retry-After"] = str(refusal.retry_after)
    return response


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("web:sign_in")
