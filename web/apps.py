from django.apps import AppConfig


class WebConfig(AppConfig):
    """HTML pages and HTMX partials: views per area, forms, presenters, snippets. No rules of its own."""

    name = "web"
