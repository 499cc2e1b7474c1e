"""Celery's Redis transport, with its Redis clients kept, and no redelivery copy of a run's message.

kombu's Redis channel makes a new redis-py client for every publish, acknowledgement and poll, and
a redis-py client copies some 170 reply callbacks when it is made: a third of what queueing a run
costs the web (bench/README.md, the fast sync path). A client is only a thread-safe front to its
connection pool, so here each channel keeps one per pool, and makes a new one when kombu replaces
the pool (after a lost connection).

kombu also keeps a copy of every message it hands the worker (its "ack emulation": a hash and a
sorted set, written before the task runs and removed when it is acknowledged, two round trips
more per task), so that a message a worker took but never ran is delivered again. A run needs
none: it is claimed by its row, and one that waits to start and nobody took is queued again by
beat (playground/worker/reaper.py); so the message of a run is taken without a copy. A worker that
stops puts the runs it took but did not start back on their queues from memory, as kombu does with
its copies; one killed outright leaves them to beat. Every other task (builds, webhooks, boots)
keeps its copy.

cogmill/celery.py has `redis://` (and `redis+socket://`) URLs use this transport.
"""

from kombu.transport import redis, virtual

# Tasks whose message is kept nowhere once a worker has taken it (playground/dispatch.py's names).
RUN_TASKS = frozenset({"playground.run_prediction", "playground.run_training"})


class QoS(redis.QoS):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._uncopied: set[str] = set()

    def append(self, message, delivery_tag):
        if message.headers.get("task") in RUN_TASKS:
            self._uncopied.add(delivery_tag)
            virtual.QoS.append(self, message, delivery_tag)  # counted against the prefetch limit only
        else:
            super().append(message, delivery_tag)

    def ack(self, delivery_tag):
        if self._taken_uncopied(delivery_tag):
            virtual.QoS.ack(self, delivery_tag)
        else:
            super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        if self._taken_uncopied(delivery_tag):
            virtual.QoS.ack(self, delivery_tag)  # nothing to requeue: beat queues the run again
        else:
            super().reject(delivery_tag, requeue=requeue)

    def restore_unacked(self, client=None):
        """A stopping worker's messages it took and never ran, back on their queues: a run's from the
        message in hand (it has no copy), every other from its copy."""
        runs = [(tag, self._delivered[tag]) for tag in list(self._delivered) if tag in self._uncopied]
        try:
            if runs:
                with self.channel.conn_or_acquire(client) as connected:
                    pipe = connected.pipeline()
                    for _tag, message in runs:
                        delivery = message.delivery_info
                        self.channel._do_restore_message(message._raw, delivery["exchange"],
                                                         delivery["routing_key"], pipe)
                    pipe.execute()
        finally:  # the others come back from their copies whatever became of the runs (beat has those)
            for tag, _message in runs:
                self._delivered.pop(tag, None)
                self._uncopied.discard(tag)
            super().restore_unacked(client)

    def _taken_uncopied(self, delivery_tag) -> bool:
        try:
            self._uncopied.remove(delivery_tag)
        except KeyError:
            return False
        return True


class Channel(redis.Channel):
    QoS = QoS

    def _create_client(self, asynchronous=False):
        pool = self.async_pool if asynchronous else self.pool
        kept = self.__dict__.setdefault("_kept_clients", {})
        found = kept.get(asynchronous)
        if found is None or found[0] is not pool:
            found = kept[asynchronous] = (pool, super()._create_client(asynchronous=asynchronous))
        return found[1]


class Transport(redis.Transport):
    Channel = Channel
