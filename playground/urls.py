"""Browser routes. `/<owner>/<name>` catches two-segment paths, so it stays last."""

from django.urls import path

from playground import web

urlpatterns = [
    path("", web.explore, name="explore"),
]
