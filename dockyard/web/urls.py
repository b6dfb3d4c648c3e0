"""The pages' URL map, GitLab's paths where GitLab has one.

Order matters: fixed prefixes first, then ``/<username>`` and, last, ``/<namespace path>/<project>``,
which would otherwise swallow everything. Reserved top-level names (``dockyard.core.paths``) can
never be a user or group path, so the catch-alls cannot shadow the fixed routes.
"""

from __future__ import annotations

from django.urls import path, re_path
from django.views.generic import RedirectView

from dockyard.web import manage_urls
from dockyard.web.views import admin, auth, dashboard, groups, profile, projects, repository, tokens

app_name = "web"

# One path segment as GitLab allows it in namespaces and projects (see dockyard.core.paths.PATH_RE).
SEGMENT = r"[A-Za-z0-9_.\-]+"
# A project's pages live under ``<namespace>/<project>/-/``; a path segment never starts with "-", so the
# project part cannot swallow the "-".
_NAMED = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
PROJECT = rf"^(?P<namespace_path>{_NAMED}(?:/{_NAMED})*)/(?P<project_path>{_NAMED})/-/"

urlpatterns = [
    path("", dashboard.home, name="home"),
    path("dashboard", RedirectView.as_view(url="/", permanent=False)),
    path("dashboard/projects", RedirectView.as_view(url="/", permanent=False)),
    path("users/sign_in", auth.sign_in, name="sign_in"),
    path("users/sign_out", auth.sign_out, name="sign_out"),
    path("explore", RedirectView.as_view(url="/explore/projects", permanent=False)),
    path("explore/projects", dashboard.explore_projects, name="explore"),
    path("groups/new", groups.new, name="new_group"),
    # Members and settings pages, before "groups/<path>" and the catch-alls (they end in "/-/…").
    *manage_urls.urlpatterns,
    re_path(rf"^groups/(?P<full_path>{SEGMENT}(?:/{SEGMENT})*)/?$", groups.show, name="group"),
    path("projects/new", projects.new, name="new_project"),
    path("profile", profile.mine, name="my_profile"),
    path("-/user_settings/personal_access_tokens", tokens.index, name="tokens"),
    path("-/user_settings/personal_access_tokens/<int:token_id>/revoke", tokens.revoke, name="revoke_token"),
    path("admin", RedirectView.as_view(url="/admin/users", permanent=False)),
    path("admin/users", admin.users, name="admin_users"),
    path("admin/audit_events", admin.audit_events, name="admin_audit_events"),
    path("admin/users/<str:username>/block", admin.block, name="admin_block"),
    path("admin/users/<str:username>/unblock", admin.unblock, name="admin_unblock"),
    path("admin/users/<str:username>/admin", admin.set_admin, name="admin_set_admin"),
    # Repository pages (GitLab's URLs); the ref and path in ``rest`` are split by the view.
    re_path(PROJECT + r"tree/?$", repository.tree, name="tree_default"),
    re_path(PROJECT + r"tree/(?P<rest>.+)$", repository.tree, name="tree"),
    re_path(PROJECT + r"blob/(?P<rest>.+)$", repository.blob, name="blob"),
    re_path(PROJECT + r"raw/(?P<rest>.+)$", repository.raw, name="raw"),
    re_path(PROJECT + r"blame/(?P<rest>.+)$", repository.blame, name="blame"),
    re_path(PROJECT + r"commits/?$", repository.commits, name="commits_default"),
    re_path(PROJECT + r"commits/(?P<rest>.+)$", repository.commits, name="commits"),
    re_path(PROJECT + r"commit/(?P<sha>[0-9a-fA-F]{7,40})$", repository.commit, name="commit"),
    re_path(PROJECT + r"branches$", repository.branches, name="branches"),
    re_path(PROJECT + r"tags$", repository.tags, name="tags"),
    re_path(PROJECT + r"refs/switch$", repository.switch_ref, name="switch_ref"),
    re_path(PROJECT + r"forks/new$", projects.fork, name="fork"),
    # Catch-alls, last. A first segment such as "-", "api" or "admin" never names a namespace.
    re_path(rf"^(?P<username>{SEGMENT})$", profile.show, name="profile"),
    re_path(
        rf"^(?P<namespace_path>{SEGMENT}(?:/{SEGMENT})*)/(?P<project_path>{SEGMENT})$",
        projects.show,
        name="project",
    ),
]
