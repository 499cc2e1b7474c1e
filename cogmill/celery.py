import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cogmill.settings")

# redis:// and redis+socket:// brokers: kombu's Redis transport with its clients kept (cogmill/broker.py).
TRANSPORT_ALIASES["redis"] = "cogmill.broker:Transport"

app = Celery("cogmill")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Settings Celery reads on every send_task. A lookup tries each spelling of the name in Django's
# settings (a miss each) before finding Celery's default, about 15 us a time; a value kept in the
# configuration's own map is found at once.
READ_ON_EVERY_SEND = ("task_always_eager", "task_send_sent_event", "broker_pool_acquire_timeout")


@app.on_after_configure.connect
def _keep_settings_read_on_every_send(sender, **kwargs) -> None:
    for name in READ_ON_EVERY_SEND:
        sender.conf[name] = sender.conf[name]
