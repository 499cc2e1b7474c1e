"""Webhooks of runs: who wants which events, signed deliveries sent in order, retries for about a day.

A delivery is a database row first (WebhookDelivery, naming its run by id), then a Celery task
sends it, so a worker that dies loses nothing: beat's sweep wakes whatever is due. One run's
deliveries go out one at a time, oldest first and `completed` always last, under a Redis lock
per run. A delivery that fails holds back the ones behind it until it is delivered or given up,
so a receiver never sees an older state of a run after a newer one.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone
from redis.exceptions import LockError

from accounts.models import WebhookSecret
from cogmill.redis import client
from playground import dispatch
from playground.errors import Invalid
from playground.models import WEBHOOK_EVENTS, Run, WebhookAttempt, WebhookDelivery

log = logging.getLogger(__name__)

START, OUTPUT, LOGS, COMPLETED = WEBHOOK_EVENTS
PENDING = WebhookDelivery.State.PENDING
MAX_URL_LENGTH = 2000
EXCERPT_CHARS = 1000
LOCK_SECONDS = 60  # well above one attempt: the HTTP timeout plus a few queries
USER_AGENT = "Cogmill-Webhooks/1"
_ID_ALPHABET = string.ascii_letters + string.digits
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestination(ValueError):
    """The URL's host is, or resolves to, an address webhooks must not reach."""


# ---------------------------------------------------------------- subscriptions

def clean_subscription(
    webhook: str | None, events_filter: list[str] | None, webhook_completed: str | None = None
) -> tuple[str, list[str]]:
    """The (url, events) to store on a run; url is "" when there is no webhook.

    `webhook_completed` is the legacy spelling of a webhook that only wants `completed`.
    """
    wanted = clean_events(events_filter)
    if webhook:
        check_url(webhook, "webhook")
        return webhook, wanted
    if webhook_completed:
        check_url(webhook_completed, "webhook_completed")
        return webhook_completed, [COMPLETED]
    return "", wanted


def clean_events(events_filter: list[str] | None) -> list[str]:
    if events_filter is None:
        return list(WEBHOOK_EVENTS)
    unknown = [event for event in events_filter if event not in WEBHOOK_EVENTS]
    if unknown:
        raise Invalid.field(
            "webhook_events_filter", f"unknown event {unknown[0]!r}: use any of {', '.join(WEBHOOK_EVENTS)}"
        )
    if not events_filter:
        raise Invalid.field(
            "webhook_events_filter", f"name at least one event of {', '.join(WEBHOOK_EVENTS)}, or leave it out for all"
        )
    return [event for event in WEBHOOK_EVENTS if event in events_filter]


def check_url(url: str, field_name: str = "webhook") -> None:
    """Refuse what cannot be a webhook: not http(s), too long, or (unless allowed) not public."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise Invalid.field(field_name, f"{field_name} is not a valid URL: {exc}") from exc
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise Invalid.field(field_name, f"{field_name} must be an http:// or https:// URL")
    if len(url) > MAX_URL_LENGTH:
        raise Invalid.field(field_name, f"{field_name} is longer than {MAX_URL_LENGTH} characters")
    if not settings.COGMILL_WEBHOOK_ALLOW_PRIVATE:
        try:
            public_addresses(parsed)
        except UnsafeDestination as exc:
            raise Invalid.field(field_name, f"{field_name} refused: {exc}") from exc


def public_addresses(url: httpx.URL) -> list[IPAddress]:
    """Every address the URL's host resolves to; UnsafeDestination if any is not public."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeDestination(f"{url.host} could not be resolved ({exc})") from exc
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    for address in addresses:
        if not _is_public(address):
            what = url.host if str(address) == url.host else f"{url.host} resolves to {address}, which"
            raise UnsafeDestination(
                f"{what} is a private, loopback, link-local or reserved address; "
                "Cogmill only connects to public addresses"
            )
    return addresses


def _is_public(address: IPAddress) -> bool:
    """Whether Cogmill may connect to `address`: global by the standard library's table and in none
    of the ranges below, which name every non-public range outright (the table differs between
    Python releases: 3.12.1 calls ::127.0.0.1, ::ffff:0:7f00:1, 64:ff9b:1::/48 and fec0::/10 global).
    An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            address = embedded
    if any(address in network for network in _DENIED):
        return False
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


_DENIED = tuple(ipaddress.ip_network(network) for network in (
    # IPv4: this network, private, shared (CGNAT), loopback, link-local, IETF, documentation,
    # 6to4 relays, benchmarking, multicast, reserved and broadcast.
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    # IPv6: IPv4-compatible (deprecated; holds :: and ::1), SIIT-translated, local-use NAT64, discard,
    # Teredo, ORCHID, documentation, unique local, link-local, site-local, multicast, SRv6.
    "::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "2001:10::/28", "2001:20::/28",
    "2001:db8::/32", "3fff::/20", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "5f00::/16",
))


# ---------------------------------------------------------------- signing

def new_message_id() -> str:
    return "msg_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def sign(message_id: str, timestamp: int, body: str, key: bytes) -> str:
    """Standard Webhooks `webhook-signature`."""
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# ---------------------------------------------------------------- recording events

def wants(run: Run, event: str) -> bool:
    return bool(run.webhook) and event in (run.webhook_events_filter or ())


def notify(run: Run, event: str) -> None:
    """Queue a delivery of the run's current state if its webhook wants `event`.

    Never raises: a webhook problem must not touch the run.
    """
    if not wants(run, event):
        return
    try:
        if _record(run, event) is not None:
            dispatch.send_webhooks(run.pk)
    except Exception:
        log.exception("could not queue the %s webhook of run %s", event, run.pk)


def _record(run: Run, event: str) -> WebhookDelivery | None:
    current = type(run).objects.select_related("model__owner", "version").get(pk=run.pk)
    if event != COMPLETED and current.is_terminal:
        return None  # the completed delivery carries this state
    return WebhookDelivery.objects.create(
        id=new_message_id(),
        run_id=current.pk,
        owner_id=current.owner_id,
        url=current.webhook,
        event=event,
        body=json.dumps(current.to_dict(), cls=DjangoJSONEncoder),
        next_attempt_at=timezone.now(),
    )


class Notifier:
    """Gathers a running run's output/logs changes between flushes.

    The Relay flushes when it saves the row, at most every 500 ms and once more at the trailing
    edge, so this is the webhook throttle: one delivery per flush, of the latest state.
    """

    def __init__(self, run: Run):
        self.run = run
        self._changed: set[str] = set()
        self._lock = threading.Lock()

    def changed(self, event: str) -> None:
        if wants(self.run, event):
            with self._lock:
                self._changed.add(event)

    def flush(self) -> None:
        with self._lock:
            changed, self._changed = self._changed, set()
        for event in (OUTPUT, LOGS):
            if event in changed:
                notify(self.run, event)
                return


# ---------------------------------------------------------------- sending

@dataclass
class Outcome:
    status_code: int | None
    latency_ms: int
    response_excerpt: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class Target:
    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


def send_pending(run_id: str) -> None:
    """Send the run's due deliveries in order, stopping at one that fails (its retry resumes)."""
    while _due_head(run_id) is not None:
        lock = client().lock(f"webhooks:{run_id}", timeout=LOCK_SECONDS)
        if not lock.acquire(blocking=False):
            return  # the holder looks again after letting go, and so sees what we came for
        try:
            head = _due_head(run_id)
            if head is not None:
                _attempt(head)
        finally:
            _release(lock)


def queue_of(run_id: str) -> QuerySet:
    """The run's undelivered messages in sending order: oldest first, `completed` last."""
    last = Case(When(event=COMPLETED, then=Value(1)), default=Value(0), output_field=IntegerField())
    return (
        WebhookDelivery.objects.filter(run_id=run_id, state=PENDING)
        .annotate(is_last=last)
        .order_by("is_last", "created_at", "id")
    )


def _due_head(run_id: str) -> WebhookDelivery | None:
    head = queue_of(run_id).select_related("owner").first()
    if head is None or (head.next_attempt_at is not None and head.next_attempt_at > timezone.now()):
        return None
    return head


def _release(lock) -> None:
    try:
        lock.release()
    except LockError:
        log.warning("a webhook lock expired while its holder was still sending")


def _attempt(delivery: WebhookDelivery) -> None:
    key = WebhookSecret.for_user(delivery.owner).key_bytes()
    outcome = post(delivery, key)
    WebhookAttempt.objects.create(
        delivery=delivery,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        response_excerpt=outcome.response_excerpt,
        error=outcome.error,
    )
    delivery.attempts += 1
    if outcome.ok:
        delivery.state = WebhookDelivery.State.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.next_attempt_at = None
        delivery.save(update_fields=["attempts", "state", "delivered_at", "next_attempt_at"])
    else:
        _schedule_retry(delivery)


def post(delivery: WebhookDelivery, key: bytes) -> Outcome:
    """One signed POST of the delivery's body. Redirects are not followed: a 3xx is a failure."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(delivery.id, timestamp, delivery.body, key),
    }
    started = time.monotonic()
    deadline = _Deadline(settings.COGMILL_WEBHOOK_TIMEOUT)
    try:
        target = _target(delivery.url)
        with (
            deadline,
            httpx.Client(timeout=settings.COGMILL_WEBHOOK_TIMEOUT, follow_redirects=False) as client,
            client.stream(
                "POST", target.url, content=delivery.body.encode(), headers={**headers, **target.headers},
                extensions={**target.extensions, "trace": deadline.trace},
            ) as response,
        ):
            excerpt = _excerpt(response)
    except (httpx.HTTPError, httpx.InvalidURL, UnsafeDestination, OSError, ValueError) as exc:
        error = deadline.error() or f"{type(exc).__name__}: {exc}"
        return Outcome(None, _ms_since(started), error=error[:EXCERPT_CHARS])
    error = ""
    if 300 <= response.status_code < 400:
        error = f"redirects are not followed (Location: {response.headers.get('location', '')})"
    return Outcome(response.status_code, _ms_since(started), excerpt, error)


class _Deadline:
    """The whole of one attempt (connect, send, the answer's head and excerpt) within `seconds`: a
    receiver that answers a byte at a time never holds a worker's thread longer. When time is up
    its socket is shut down, which ends whatever read is waiting on it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = threading.Event()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict) -> None:
        if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
            sock = info["return_value"].get_extra_info("socket")
            if sock is not None:
                self._sockets.append(sock)

    def _expire(self) -> None:
        self.expired.set()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def error(self) -> str:
        return f"no complete answer within {self.seconds:g}s" if self.expired.is_set() else ""

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()


def _target(url: str) -> Target:
    return pinned(url, settings.COGMILL_WEBHOOK_ALLOW_PRIVATE)


def pinned(url: str | httpx.URL, allow_private: bool = False) -> Target:
    """Where to connect for `url`: unless private addresses are allowed, the checked public address
    itself (UnsafeDestination otherwise), so a DNS answer that changes between check and connect
    (rebinding) cannot send the request elsewhere. Input files are fetched the same way."""
    parsed = httpx.URL(url)
    if allow_private:
        return Target(parsed)
    address = public_addresses(parsed)[0]
    extensions = {"sni_hostname": parsed.raw_host.decode("ascii")} if parsed.scheme == "https" else {}
    return Target(parsed.copy_with(host=str(address)), {"Host": parsed.netloc.decode("ascii")}, extensions)


def _excerpt(response: httpx.Response) -> str:
    """The start of the answer's body; its status already decided the outcome, so a body cut off
    (by the deadline, or the receiver) keeps what came."""
    text = ""
    try:
        for chunk in response.iter_text():
            text += chunk
            if len(text) >= EXCERPT_CHARS:
                break
    except (httpx.HTTPError, OSError):
        pass
    return text[:EXCERPT_CHARS]


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _schedule_retry(delivery: WebhookDelivery) -> None:
    short = settings.COGMILL_WEBHOOK_RETRY_DELAYS
    delays = [*short, *settings.COGMILL_WEBHOOK_LONG_RETRY_DELAYS]
    if delivery.attempts > len(delays):
        _give_up(delivery)
        return
    delay = delays[delivery.attempts - 1]
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    delivery.save(update_fields=["attempts", "next_attempt_at"])
    if delivery.attempts <= len(short):
        dispatch.send_webhooks(delivery.run_id, countdown=delay)
    # longer waits are left to retry_due, run by beat every minute


def _give_up(delivery: WebhookDelivery) -> None:
    """After a day of failures the receiver is gone: drop this message and those queued behind it."""
    log.warning("webhook %s to %s failed %d times; giving up", delivery.id, delivery.url, delivery.attempts)
    delivery.state = WebhookDelivery.State.FAILED
    delivery.next_attempt_at = None
    delivery.save(update_fields=["attempts", "state", "next_attempt_at"])
    WebhookDelivery.objects.filter(run_id=delivery.run_id, state=PENDING).update(
        state=WebhookDelivery.State.FAILED, next_attempt_at=None
    )


def forget(run_id: str) -> None:
    """The run's data was removed: its messages keep no copy of it, and those not yet delivered are
    not sent."""
    WebhookDelivery.objects.filter(run_id=run_id, state=PENDING).update(
        state=WebhookDelivery.State.FAILED, next_attempt_at=None
    )
    WebhookDelivery.objects.filter(run_id=run_id).update(body="")


def retry_due() -> int:
    """Beat, every minute: wake each run's queue whose first message is due.

    Covers the long retries and any send task lost with its worker. A queue whose head waits
    for a retry time still to come is left alone.
    """
    now = timezone.now()
    pending = WebhookDelivery.objects.filter(state=PENDING)
    waiting = pending.filter(next_attempt_at__gt=now).values("run_id")
    due = set(pending.exclude(run_id__in=waiting).values_list("run_id", flat=True))
    for run_id in due:
        dispatch.send_webhooks(run_id)
    return len(due)
