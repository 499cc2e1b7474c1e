import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cogmill.settings")

# redis:// and redis+socket:// brokers: kombu's Redis transport with its clients kept (cogmill/broker.py).
TRANSPORT_ALIASES["redis"] = "cogmill.broker:Transport"

app = Celery("cogmill")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
