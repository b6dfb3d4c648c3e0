from __future__ import annotations

from django.urls import path

from baseline import views

urlpatterns = [
    path("trivial", views.trivial),
    path("orm", views.orm),
]
