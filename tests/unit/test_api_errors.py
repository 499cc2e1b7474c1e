"""API error shapes and pagination, in-process (no worker needed)."""

import base64
import datetime as dt

import pytest
from django.db import DataError
from django.utils import timezone

from accounts.models import ApiToken, User
from api.pagination import paginate
from playground.models import BuildStatus, ModelQuerySet, Prediction
from tests.problems import assert_problem as _problem

pytestmark = pytest.mark.django_db

def test_missing_token_is_401_problem(client):
    body = _problem(client.get("/v1/predictions"), 401)
    assert body == {"title": "Unauthenticated", "detail": "You did not pass a valid authentication token",
                    "status": 401}


def test_legacy_token_scheme_is_accepted(client, alice):
    _, raw = ApiToken.issue(alice)
    assert client.get("/v1/account", HTTP_AUTHORIZATION=f"Token {raw}").json()["username"] == "alice"


def test_malformed_json_is_400(client, auth):
    _problem(client.post("/v1/predictions", data="{nope", content_type="application/json", **auth), 400)


def test_unknown_path_under_v1_is_problem_json(client, auth):
    _problem(client.get("/v1/no/such/thing", **auth), 404)


def test_invalid_input_names_the_field(client, auth, version):
    body = _problem(client.post("/v1/predictions", {"version": version.version_id, "input": {"text": 5}},
                                content_type="application/json", **auth), 422)
    assert body["invalid_fields"][0]["field"] == "text"
    assert not Prediction.objects.exists()  # nothing half-made


def test_input_that_is_not_an_object_is_422(client, auth, version):
    _problem(client.post("/v1/predictions", {"version": version.version_id, "input": "text"},
                         content_type="application/json", **auth), 422)


@pytest.mark.parametrize("ref", ["cogmill/none", "alice/none:abc", "b" * 64, "xyz"])
def test_unknown_or_malformed_versions_are_422_invalid_version(client, auth, ref):
    """As Replicate answers: unknown, malformed and someone else's private version look the same."""
    body = _problem(client.post("/v1/predictions", {"version": ref, "input": {}},
                                content_type="application/json", **auth), 422)
    assert body["invalid_fields"][0]["field"] == "version"
    assert body["detail"].startswith("version: Invalid version or not permitted")


def test_someone_elses_private_version_is_the_same_422(client, version):
    version.model.visibility = "private"
    version.model.save()
    _, raw = ApiToken.issue(User.objects.create_user("mallory"))
    for ref in (version.version_id, f"alice/echo:{version.version_id}", "alice/echo"):
        body = _problem(client.post("/v1/predictions", {"version": ref, "input": {"text": "a"}},
                                    content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"), 422)
        assert body["invalid_fields"][0]["field"] == "version"


def test_a_missing_version_is_422_naming_it(client, auth):
    body = _problem(client.post("/v1/predictions", {"input": {}}, content_type="application/json", **auth), 422)
    assert body["invalid_fields"][0]["field"] == "version"


def test_an_unknown_body_field_is_422_naming_it(client, auth, version):
    body = _problem(client.post("/v1/predictions", {"version": version.version_id, "input": {"text": "a"},
                                                    "webhok": "https://example.com"},
                                content_type="application/json", **auth), 422)
    assert body["invalid_fields"][0]["field"] == "webhok"
    assert not Prediction.objects.exists()


def test_version_still_building_is_409(client, auth, version):
    version.build_status = BuildStatus.BUILDING
    version.save()
    _problem(client.post("/v1/predictions", {"version": version.version_id, "input": {"text": "a"}},
                         content_type="application/json", **auth), 409)


@pytest.mark.parametrize("prefer", ["wait=0", "wait=soon", "wait=-1"])
def test_bad_prefer_wait_is_400_and_creates_nothing(client, auth, version, prefer):
    body = _problem(client.post("/v1/predictions", {"version": version.version_id, "input": {"text": "a"}},
                                content_type="application/json", HTTP_PREFER=prefer, **auth), 400)
    assert "wait" in body["detail"]
    assert not Prediction.objects.exists()


def test_private_model_of_someone_else_is_404(client, version):
    version.model.visibility = "private"
    version.model.save()
    _, raw = ApiToken.issue(User.objects.create_user("mallory"))
    _problem(client.get("/v1/models/alice/echo", HTTP_AUTHORIZATION=f"Bearer {raw}"), 404)


def test_created_prediction_has_every_field(client, auth, version):
    response = client.post("/v1/predictions", {"version": version.version_id, "input": {"text": "a"}},
                           content_type="application/json", **auth)
    assert response.status_code == 201
    body = response.json()
    assert len(body["id"]) == 26 and body["id"].isalnum() and body["id"].lower() == body["id"]
    assert body["model"] == "alice/echo" and body["version"] == version.version_id
    assert body["status"] == "starting" and body["source"] == "api"
    assert body["created_at"].endswith("Z")
    assert set(body["urls"]) == {"get", "cancel", "web"}  # no `stream`: its output is not an iterator
    for key in ("input", "output", "logs", "error", "data_removed", "deployment", "started_at",
                "completed_at", "deadline", "metrics"):
        assert key in body


def test_cancel_queued_prediction_is_canceled_at_once(client, auth, version):
    pid = client.post("/v1/predictions", {"version": version.version_id, "input": {"text": "a"}},
                      content_type="application/json", **auth).json()["id"]
    body = client.post(f"/v1/predictions/{pid}/cancel", **auth).json()
    assert body["status"] == "canceled" and body["completed_at"]


def test_pages_walk_forward_and_back(rf, alice, version):
    base = timezone.now()
    for i in range(7):
        Prediction.objects.create(owner=alice, model=version.model, version=version,
                                  created_at=base - dt.timedelta(seconds=i))
    seen = []
    request = rf.get("/v1/predictions")
    page = paginate(request, Prediction.objects.all(), lambda p: p.pk, None, page_size=3)
    assert page["previous"] is None
    while True:
        seen += page["results"]
        if not page["next"]:
            break
        assert page["next"].startswith("http")
        cursor = page["next"].split("cursor=")[1]
        request = rf.get("/v1/predictions", {"cursor": cursor})
        page = paginate(request, Prediction.objects.all(), lambda p: p.pk, cursor, page_size=3)
    expected = list(Prediction.objects.order_by("-created_at").values_list("pk", flat=True))
    assert seen == expected
    cursor = page["previous"].split("cursor=")[1]
    back = rf.get("/v1/predictions", {"cursor": cursor})
    page = paginate(back, Prediction.objects.all(), lambda p: p.pk, cursor, page_size=3)
    assert page["results"] == expected[3:6]


def test_bad_cursor_is_400(client, auth):
    _problem(client.get("/v1/predictions?cursor=!!!", **auth), 400)


def test_stream_refuses_a_last_event_id_it_never_sent(client, alice, version):
    """Found by schemathesis: Redis refused `Last-Event-ID: :` after the 200, cutting the stream."""
    prediction = version.predictions.create(owner=alice, model=version.model)
    body = _problem(client.get(f"/v1/predictions/{prediction.pk}/stream", HTTP_LAST_EVENT_ID=":"), 422)
    assert body["invalid_fields"][0]["field"] == "Last-Event-ID"


def test_a_value_the_database_refuses_is_400(client, auth, monkeypatch):
    """Found by schemathesis on PostgreSQL: a NUL character in search text or file metadata was a 500."""
    def refuse(self, text):
        raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes\nLINE 1: SELECT ...")

    monkeypatch.setattr(ModelQuerySet, "search", refuse)
    body = _problem(client.get("/v1/models?query=a%00b", **auth), 400)
    assert body["detail"].endswith("cannot contain NUL (0x00) bytes.") and "SELECT" not in body["detail"]


@pytest.mark.parametrize("stamp", ["2026-13-45T00:00:00Z", "yesterday"])
def test_an_impossible_timestamp_filter_is_400(client, auth, stamp):
    _problem(client.get("/v1/predictions", {"created_after": stamp}, **auth), 400)


def test_a_forged_cursor_with_a_bad_key_is_400(client, auth, version):
    """A cursor decodes to a key of the listed table's type; a forged one is the caller's error."""
    forged = base64.urlsafe_b64encode(b"n|2026-01-01T00:00:00+00:00|not-a-number").decode().rstrip("=")
    _problem(client.get(f"/v1/models/{version.model.full_name}/versions", {"cursor": forged}, **auth), 400)
