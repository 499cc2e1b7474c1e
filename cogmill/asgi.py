import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cogmill.settings")
django_application = get_asgi_application()

from cogmill.bodylimit import BodyLimit  # noqa: E402  (after Django is set up: it reads settings)
from cogmill.request_threads import KeptThreads  # noqa: E402

# Bodies over their route's cap are refused before Django reads them; each request's synchronous
# code runs on a thread of its own, kept for the next request once it is done.
application = BodyLimit(KeptThreads(django_application))
