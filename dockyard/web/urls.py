from django.urls import path

from dockyard.web import views

urlpatterns = [
    path("", views.home, name="home"),
]
