import os
import re

from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cogmill.settings")
django_application = get_asgi_application()
django_wsgi_application = get_wsgi_application()

from cogmill.bodylimit import BodyLimit  # noqa: E402  (after Django is set up: it reads settings)
from cogmill.request_threads import KeptThreads  # noqa: E402

# The paths of async views (a run's event stream, /healthz): Django's ASGI handler serves them;
# every other request is served on its thread by Django's WSGI handler (cogmill/request_threads.py).
# tests/unit/test_request_threads.py checks that every async view's path is here.
ASYNC_VIEWS = re.compile(r"/(healthz|v1/(predictions|trainings)/[^/]+/stream)/?")

# Bodies over their route's cap are refused before Django reads them; each request runs on a
# thread of its own, kept for the next request once it is done.
application = BodyLimit(KeptThreads(django_application, django_wsgi_application, asgi_paths=ASYNC_VIEWS))
