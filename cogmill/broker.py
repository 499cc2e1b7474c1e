"""Celery's Redis transport, with its Redis clients kept.

kombu's Redis channel makes a new redis-py client for every publish, acknowledgement and poll, and
a redis-py client copies some 170 reply callbacks when it is made: a third of what queueing a run
costs the web (bench/README.md, the fast sync path). A client is only a thread-safe front to its
connection pool, so here each channel keeps one per pool, and makes a new one when kombu replaces
the pool (after a lost connection). cogmill/celery.py has `redis://` (and `redis+socket://`) URLs
use this transport.
"""

from kombu.transport import redis


class Channel(redis.Channel):
    def _create_client(self, asynchronous=False):
        pool = self.async_pool if asynchronous else self.pool
        kept = self.__dict__.setdefault("_kept_clients", {})
        found = kept.get(asynchronous)
        if found is None or found[0] is not pool:
            found = kept[asynchronous] = (pool, super()._create_client(asynchronous=asynchronous))
        return found[1]


class Transport(redis.Transport):
    Channel = Channel
