import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cogmill.settings")
django_application = get_asgi_application()

from cogmill.bodylimit import BodyLimit  # noqa: E402  (after Django is set up: it reads settings)

# Bodies over their route's cap are refused before Django reads them.
application = BodyLimit(django_application)
