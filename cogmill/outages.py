"""What a request can meet when Redis or the database is briefly away, and what users are told.

The API answers 503 problem+json and the pages a 503 page, with Retry-After; neither says which
part is down or where it lives (no hosts, socket paths or driver messages).
"""

import redis
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

OUTAGES = (redis.RedisError, BrokerError, OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5
DETAIL = "Cogmill is briefly unavailable; nothing was done. Try again in a few seconds."
