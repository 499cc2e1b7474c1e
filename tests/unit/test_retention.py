"""Data retention, in-process: an owner who chose it has the inputs, outputs and logs of finished API
predictions removed after that long by beat's sweep; the row, its metrics and cost stay, and what
is shared, run in the playground, still running or another owner's is kept."""

from datetime import timedelta

import pytest
from django.utils import timezone

from playground.models import GalleryItem, Source, Status
from playground.services import runs
from tests.unit.conftest import client_for

pytestmark = pytest.mark.django_db


def _ago(**delta):
    return timezone.now() - timedelta(**delta)


@pytest.fixture
def finished(make_prediction):
    def make(owner=None, completed=None, **fields):
        fields.setdefault("status", Status.SUCCEEDED)
        return make_prediction(owner=owner, output="hello", logs="said hello\n", metrics={"predict_time": 1.5},
                               completed_at=completed or _ago(hours=2), **fields)
    return make


def test_the_sweep_removes_old_api_prediction_data_and_keeps_the_row(alice, finished):
    alice.data_retention = timedelta(hours=1)
    alice.save()
    old = finished(alice)
    assert runs.remove_expired_data() == 1
    old.refresh_from_db()
    assert (old.data_removed, old.input, old.output, old.logs) == (True, {}, None, "")
    assert (old.status, old.metrics) == (Status.SUCCEEDED, {"predict_time": 1.5})
    assert runs.remove_expired_data() == 0  # nothing twice


def test_what_the_sweep_leaves_alone(alice, bob, acme, finished, make_prediction, version):
    alice.data_retention = timedelta(hours=1)
    alice.save()
    kept = [
        finished(alice, completed=_ago(minutes=30)),  # younger than the retention
        finished(alice, source=Source.WEB),  # run in the playground
        finished(alice, is_public=True),  # shared by link
        finished(bob),  # bob keeps everything (the default)
        make_prediction(status=Status.PROCESSING, started_at=_ago(hours=3)),  # still running
    ]
    in_gallery = finished(alice)
    GalleryItem.objects.create(organization=acme, prediction=in_gallery, added_by=alice)
    example = finished(alice)
    version.model.examples.add(example)
    default = finished(alice)
    version.model.default_example = default
    version.model.save()
    assert runs.remove_expired_data() == 0
    for prediction in [*kept, in_gallery, example, default]:
        prediction.refresh_from_db()
        assert not prediction.data_removed and prediction.input == {"text": "hello"}


def test_removed_data_reads_as_removed_in_the_api(alice, finished, auth, client):
    alice.data_retention = timedelta(hours=1)
    alice.save()
    old = finished(alice)
    runs.remove_expired_data()
    body = client.get(f"/v1/predictions/{old.pk}", **auth).json()
    assert body["data_removed"] is True and body["output"] is None and body["input"] == {}
    assert body["metrics"] == {"predict_time": 1.5}


def test_the_account_page_sets_and_clears_retention(alice):
    browser = client_for(alice)
    page = browser.get("/account")
    assert b"Data retention" in page.content and b'value="1h"' in page.content
    response = browser.post("/account/retention", {"retention": "1h"})
    assert response.status_code == 302 and response["Location"].endswith("/account#retention")
    alice.refresh_from_db()
    assert alice.data_retention == timedelta(hours=1)
    assert b'<option value="1h" selected>' in browser.get("/account").content
    browser.post("/account/retention", {"retention": ""})
    alice.refresh_from_db()
    assert alice.data_retention is None


def test_a_retention_not_offered_is_a_form_error_and_changes_nothing(alice):
    response = client_for(alice).post("/account/retention", {"retention": "1s"})
    assert response.status_code == 400 and b"Select a valid choice" in response.content
    alice.refresh_from_db()
    assert alice.data_retention is None


def test_retention_is_only_for_the_logged_in_owner(client):
    response = client.post("/account/retention", {"retention": "1h"})
    assert response.status_code == 302 and "/login" in response["Location"]
