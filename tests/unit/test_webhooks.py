"""Webhooks in-process: signing, refused destinations, the events filter, and delivery to a real
local HTTP receiver with Celery running its tasks eagerly (no worker)."""

import base64
import datetime as dt
import json

import pytest
import replicate
from django.utils import timezone
from replicate.webhook import WebhookSigningSecret

from accounts.models import WebhookSecret
from cogmill.celery import app as celery_app
from playground import webhooks
from playground.errors import Invalid
from playground.models import Prediction, Status, WebhookDelivery
from playground.services import runs
from tests.webhook_receiver import Receiver, Reply

pytestmark = pytest.mark.django_db

@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def eager():
    """Tasks run inline, in order, as soon as they are queued."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def allow_private(settings):
    settings.COGMILL_WEBHOOK_ALLOW_PRIVATE = True


def _prediction(alice, version, url: str, events=None) -> Prediction:
    return Prediction.objects.create(
        owner=alice, model=version.model, version=version, input={"text": "a"}, status=Status.PROCESSING,
        started_at=timezone.now(), webhook=url, webhook_events_filter=events or list(webhooks.WEBHOOK_EVENTS),
    )


def _secret(user) -> WebhookSigningSecret:
    return WebhookSigningSecret(key=WebhookSecret.for_user(user).key)


# ---------------------------------------------------------------- signing

def test_signature_matches_the_standard_webhooks_test_vector():
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = webhooks.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}', key)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_message_ids_are_prefixed_and_unique():
    ids = {webhooks.new_message_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("msg_") and i[4:].isalnum() for i in ids)


# ---------------------------------------------------------------- destinations

PRIVATE = [
    "http://127.0.0.1/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10:8080/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:8000/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/",
    "http://localhost:8000/hook",
]


@pytest.mark.parametrize("url", PRIVATE)
def test_private_destinations_are_refused(url):
    with pytest.raises(Invalid) as info:
        webhooks.check_url(url)
    assert info.value.errors[0].field == "webhook"
    assert "public addresses" in str(info.value)


def test_a_name_that_resolves_to_loopback_says_so():
    with pytest.raises(Invalid, match=r"localhost resolves to (127\.0\.0\.1|::1)"):
        webhooks.check_url("http://localhost/hook")


@pytest.mark.parametrize("url", PRIVATE)
def test_private_destinations_are_allowed_by_the_setting(url, allow_private):
    webhooks.check_url(url)


def test_public_address_is_accepted():
    webhooks.check_url("https://93.184.215.14/hook")


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "example.com/hook", "javascript:alert(1)", "http://"])
def test_only_http_urls_are_accepted(url, allow_private):
    with pytest.raises(Invalid, match="http:// or https://"):
        webhooks.check_url(url)


def test_overlong_url_is_refused(allow_private):
    with pytest.raises(Invalid, match="longer than"):
        webhooks.check_url("https://example.com/" + "a" * 2000)


# ---------------------------------------------------------------- subscriptions

def test_events_default_to_all_four():
    assert webhooks.clean_subscription("https://93.184.215.14/", None) == (
        "https://93.184.215.14/", ["start", "output", "logs", "completed"]
    )


def test_events_are_kept_in_canonical_order_without_repeats():
    assert webhooks.clean_events(["completed", "start", "start"]) == ["start", "completed"]


@pytest.mark.parametrize("events", [["done"], ["start", "finished"], []])
def test_bad_events_filter_names_the_field(events):
    with pytest.raises(Invalid) as info:
        webhooks.clean_events(events)
    assert info.value.errors[0].field == "webhook_events_filter"


def test_webhook_completed_is_a_webhook_for_completed_only():
    url = "https://93.184.215.14/done"
    assert webhooks.clean_subscription(None, None, webhook_completed=url) == (url, ["completed"])


def test_no_webhook_stores_no_url():
    assert webhooks.clean_subscription(None, None)[0] == ""


# ---------------------------------------------------------------- API

def _post(client, auth, path: str, body: dict):
    return client.post(path, body, content_type="application/json", **auth)


def test_api_stores_webhook_and_filter(client, auth, version, allow_private):
    response = _post(client, auth, "/v1/predictions", {
        "version": version.version_id, "input": {"text": "a"},
        "webhook": "http://127.0.0.1:9/hook", "webhook_events_filter": ["completed", "start"],
    })
    assert response.status_code == 201
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert prediction.webhook == "http://127.0.0.1:9/hook"
    assert prediction.webhook_events_filter == ["start", "completed"]


def test_api_model_predictions_accept_webhook_completed(client, auth, version):
    response = _post(client, auth, "/v1/models/alice/echo/predictions", {
        "input": {"text": "a"}, "webhook_completed": "https://93.184.215.14/done",
    })
    assert response.status_code == 201
    prediction = Prediction.objects.get(pk=response.json()["id"])
    assert (prediction.webhook, prediction.webhook_events_filter) == ("https://93.184.215.14/done", ["completed"])


def test_api_without_webhook_stores_none(client, auth, version):
    response = _post(client, auth, "/v1/predictions", {"version": version.version_id, "input": {"text": "a"}})
    assert Prediction.objects.get(pk=response.json()["id"]).webhook == ""


@pytest.mark.parametrize("body, field, words", [
    ({"webhook": "https://93.184.215.14/", "webhook_events_filter": ["done"]}, "webhook_events_filter", "done"),
    ({"webhook": "https://93.184.215.14/", "webhook_events_filter": "completed"}, "webhook_events_filter", ""),
    ({"webhook": "ftp://example.com/hook"}, "webhook", "http"),
    ({"webhook": "http://127.0.0.1:8000/hook"}, "webhook", "public addresses"),
    ({"webhook_completed": "http://localhost/hook"}, "webhook_completed", "public addresses"),
])
def test_api_refuses_bad_webhooks_with_422_naming_the_field(client, auth, version, body, field, words):
    response = _post(client, auth, "/v1/predictions", {"version": version.version_id, "input": {"text": "a"}, **body})
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["invalid_fields"][0]["field"] == field
    assert words in problem["detail"]
    assert not Prediction.objects.exists()


def test_api_default_secret_is_stable_per_owner(client, auth, alice):
    first = client.get("/v1/webhooks/default/secret", **auth).json()
    assert first == client.get("/v1/webhooks/default/secret", **auth).json()
    assert first["key"].startswith("whsec_") and len(base64.b64decode(first["key"][6:])) == 32
    assert first["key"] == WebhookSecret.for_user(alice).key


def test_api_secret_needs_a_token(client):
    assert client.get("/v1/webhooks/default/secret").status_code == 401


# ---------------------------------------------------------------- recording

def test_events_outside_the_filter_record_nothing(alice, version):
    prediction = _prediction(alice, version, "http://127.0.0.1:9/", events=["completed"])
    webhooks.notify(prediction, "start")
    assert not WebhookDelivery.objects.exists()


def test_a_prediction_without_webhook_records_nothing(alice, version):
    webhooks.notify(_prediction(alice, version, ""), "completed")
    assert not WebhookDelivery.objects.exists()


def test_output_after_the_end_is_left_to_completed(alice, version):
    prediction = _prediction(alice, version, "http://127.0.0.1:9/")
    Prediction.objects.filter(pk=prediction.pk).update(status=Status.SUCCEEDED)
    webhooks.notify(prediction, "output")
    assert not WebhookDelivery.objects.exists()


def test_notifier_sends_one_delivery_per_flush_with_the_latest_state(alice, version):
    prediction = _prediction(alice, version, "http://127.0.0.1:9/")
    notifier = webhooks.Notifier(prediction)
    notifier.changed("logs")
    notifier.changed("output")
    Prediction.objects.filter(pk=prediction.pk).update(output="latest", logs="line\n")
    notifier.flush()
    notifier.flush()
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.event == "output"
    assert json.loads(delivery.body)["output"] == "latest"


def test_notifier_respects_the_filter(alice, version):
    notifier = webhooks.Notifier(_prediction(alice, version, "http://127.0.0.1:9/", events=["logs", "completed"]))
    notifier.changed("output")
    notifier.flush()
    assert not WebhookDelivery.objects.exists()
    notifier.changed("logs")
    notifier.changed("output")
    notifier.flush()
    assert list(WebhookDelivery.objects.values_list("event", flat=True)) == ["logs"]


def test_completed_is_sent_last_even_if_recorded_first(alice, version):
    prediction = _prediction(alice, version, "http://127.0.0.1:9/")
    for event in ("completed", "start", "output"):
        WebhookDelivery.objects.create(id=webhooks.new_message_id(), run_id=prediction.pk, owner=alice,
                                       url=prediction.webhook, event=event, body="{}",
                                       next_attempt_at=timezone.now())
    assert [d.event for d in webhooks.queue_of(prediction.pk)] == ["start", "output", "completed"]


# ---------------------------------------------------------------- delivering

def test_delivery_is_signed_and_equals_the_prediction(alice, version, receiver, eager, allow_private):
    prediction = _prediction(alice, version, receiver.url())
    Prediction.objects.filter(pk=prediction.pk).update(status=Status.SUCCEEDED, output="hello a")
    webhooks.notify(prediction, "completed")
    [request] = receiver.received()
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"].startswith("msg_")
    assert replicate.webhooks.validate(headers=request.headers, body=request.body, secret=_secret(alice)) is None
    prediction.refresh_from_db()
    assert json.loads(request.body) == prediction.to_dict()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.id) == ("delivered", 1, request.headers["webhook-id"])
    [attempt] = delivery.attempt_log.all()
    assert (attempt.status_code, attempt.response_excerpt, attempt.error) == (200, "ok", "")


def test_a_tampered_body_does_not_validate(alice, version, receiver, eager, allow_private):
    webhooks.notify(_prediction(alice, version, receiver.url()), "start")
    [request] = receiver.received()
    with pytest.raises(replicate.webhook.InvalidSignatureError):
        replicate.webhooks.validate(headers=request.headers, body=request.body + " ", secret=_secret(alice))


def test_a_failing_delivery_holds_back_the_queue_then_it_drains_in_order(
    alice, version, receiver, eager, allow_private, settings
):
    settings.COGMILL_WEBHOOK_RETRY_DELAYS = [3600]
    prediction = _prediction(alice, version, receiver.url())
    receiver.script("/hook", Reply(500, body="down for maintenance"))
    webhooks.notify(prediction, "start")
    webhooks.notify(prediction, "output")
    Prediction.objects.filter(pk=prediction.pk).update(status=Status.SUCCEEDED)
    webhooks.notify(prediction, "completed")
    assert len(receiver.received()) == 1  # output and completed wait behind the failed start
    start = WebhookDelivery.objects.get(event="start")
    assert start.state == "pending" and start.attempts == 1 and start.next_attempt_at > timezone.now()
    [attempt] = start.attempt_log.all()
    assert (attempt.status_code, attempt.response_excerpt) == (500, "down for maintenance")

    assert webhooks.retry_due() == 0  # the head is not due yet
    WebhookDelivery.objects.filter(pk=start.pk).update(next_attempt_at=timezone.now())
    assert webhooks.retry_due() == 1
    received = receiver.received()
    assert [json.loads(r.body)["status"] for r in received] == ["processing", "processing", "processing",
                                                               "succeeded"]
    assert received[0].headers["webhook-id"] == received[1].headers["webhook-id"] == start.id
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"delivered"}


def test_a_day_of_failures_gives_up_on_the_prediction_queue(alice, version, receiver, eager, allow_private, settings):
    settings.COGMILL_WEBHOOK_RETRY_DELAYS = [0, 0]
    settings.COGMILL_WEBHOOK_LONG_RETRY_DELAYS = [3600]
    receiver.script("/hook", *[Reply(503)] * 10)
    prediction = _prediction(alice, version, receiver.url())
    webhooks.notify(prediction, "start")
    webhooks.notify(prediction, "completed")
    start = WebhookDelivery.objects.get(event="start")
    assert (start.state, start.attempts) == ("pending", 3)  # two quick retries, then a long wait
    assert start.next_attempt_at > timezone.now() + dt.timedelta(minutes=59)

    WebhookDelivery.objects.filter(pk=start.pk).update(next_attempt_at=timezone.now())
    webhooks.retry_due()
    start.refresh_from_db()
    assert (start.state, start.attempts, start.next_attempt_at) == ("failed", 4, None)
    assert [a.status_code for a in start.attempt_log.all()] == [503] * 4
    assert WebhookDelivery.objects.get(event="completed").state == "failed"
    assert {r.headers["webhook-id"] for r in receiver.received()} == {start.id}


def test_redirects_are_not_followed(alice, version, receiver, eager, allow_private, settings):
    settings.COGMILL_WEBHOOK_RETRY_DELAYS = [3600]
    receiver.script("/hook", Reply(302, {"Location": receiver.url("/elsewhere")}))
    webhooks.notify(_prediction(alice, version, receiver.url()), "start")
    delivery = WebhookDelivery.objects.get()
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code == 302 and "redirects are not followed" in attempt.error
    assert delivery.state == "pending"
    assert receiver.received("/elsewhere") == []


def test_a_receiver_that_is_down_is_an_attempt_with_the_error(alice, version, eager, allow_private, settings):
    settings.COGMILL_WEBHOOK_RETRY_DELAYS = [3600]
    with Receiver() as gone:
        url = gone.url()
    webhooks.notify(_prediction(alice, version, url), "start")
    [attempt] = WebhookDelivery.objects.get().attempt_log.all()
    assert attempt.status_code is None and "ConnectError" in attempt.error


def test_private_destination_is_checked_again_when_sending(alice, version, receiver, eager, settings):
    settings.COGMILL_WEBHOOK_RETRY_DELAYS = [3600]
    webhooks.notify(_prediction(alice, version, receiver.url()), "start")  # accepted earlier, refused now
    [attempt] = WebhookDelivery.objects.get().attempt_log.all()
    assert attempt.status_code is None and "public addresses" in attempt.error
    assert receiver.received() == []


def test_cancelling_a_queued_prediction_sends_completed(client, auth, alice, version, receiver, eager, allow_private):
    prediction = _prediction(alice, version, receiver.url(), events=["completed"])
    Prediction.objects.filter(pk=prediction.pk).update(status=Status.STARTING, started_at=None)
    assert client.post(f"/v1/predictions/{prediction.pk}/cancel", **auth).status_code == 200
    [request] = receiver.received()
    assert json.loads(request.body)["status"] == "canceled"


def test_removing_a_runs_data_removes_it_from_its_webhook_messages(alice, version):
    prediction = _prediction(alice, version, "http://127.0.0.1:9/")
    Prediction.objects.filter(pk=prediction.pk).update(status=Status.SUCCEEDED, output="secret output")
    for event, state in (("start", "delivered"), ("completed", "pending")):
        WebhookDelivery.objects.create(id=webhooks.new_message_id(), run_id=prediction.pk, owner=alice,
                                       url=prediction.webhook, event=event, state=state,
                                       body='{"output": "secret output"}', next_attempt_at=timezone.now())
    prediction.refresh_from_db()
    runs.remove_prediction_data(prediction)
    assert set(WebhookDelivery.objects.values_list("body", flat=True)) == {""}
    assert not WebhookDelivery.objects.filter(state="pending").exists()  # nothing left to send it


def test_deleting_a_run_deletes_its_webhook_messages(alice, version):
    prediction = _prediction(alice, version, "http://127.0.0.1:9/")
    WebhookDelivery.objects.create(id=webhooks.new_message_id(), run_id=prediction.pk, owner=alice,
                                   url=prediction.webhook, event="start", body="{}")
    prediction.delete()
    assert not WebhookDelivery.objects.exists()


def test_a_read_only_token_may_not_read_the_signing_key(client, read_only_auth):
    """Whoever holds the key can forge the account's webhooks: a read-only token gets a 403."""
    response = client.get("/v1/webhooks/default/secret", **read_only_auth)
    assert response.status_code == 403 and "read-only" in response.json()["detail"]


def test_a_receiver_that_answers_a_byte_at_a_time_is_cut_off_at_the_deadline(alice, version, eager, allow_private,
                                                                            settings):
    """Each byte comes well within the read timeout, so only a deadline on the whole attempt frees the
    worker's thread: the attempt fails saying so, and the delivery stays pending for a retry."""
    import socket
    import threading

    settings.COGMILL_WEBHOOK_RETRY_DELAYS = [3600]
    settings.COGMILL_WEBHOOK_TIMEOUT = 1.0
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * 50:
                if done.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    threading.Thread(target=trickle, daemon=True).start()
    try:
        webhooks.notify(_prediction(alice, version, f"http://127.0.0.1:{listener.getsockname()[1]}/hook"), "start")
    finally:
        done.set()
        listener.close()
    delivery = WebhookDelivery.objects.get()
    [attempt] = delivery.attempt_log.all()
    assert attempt.status_code is None and attempt.error == "no complete answer within 1s"
    assert delivery.state == "pending"
