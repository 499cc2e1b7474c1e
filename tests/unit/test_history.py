"""History filters, who sees which prediction, and removing a prediction's data (in-process)."""

import datetime as dt
import os

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from playground.errors import Conflict
from playground.models import File, Model, Prediction, Status
from playground.services import runs
from playground.services.runs import can_view, filter_history, viewable_predictions
from tests.unit.conftest import client_for

pytestmark = pytest.mark.django_db


def _ids(qs) -> set[str]:
    return set(qs.values_list("pk", flat=True))


def test_filter_by_status(make_prediction, version):
    done = make_prediction(status=Status.SUCCEEDED)
    make_prediction(status=Status.FAILED)
    assert _ids(filter_history(Prediction.objects.all(), {"status": "succeeded"})) == {done.pk}


def test_filter_by_model(make_prediction, version, alice):
    other = Model.objects.create(owner=alice, name="other")
    mine = make_prediction()
    make_prediction(of=other.versions.create(version_id="b" * 64))
    assert _ids(filter_history(Prediction.objects.all(), {"model": "alice/echo"})) == {mine.pk}
    assert not filter_history(Prediction.objects.all(), {"model": "bob/echo"}).exists()


def test_filter_by_days_is_inclusive(make_prediction, version):
    day = dt.date(2026, 3, 10)

    def at(d: dt.date, hour: int) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(d, dt.time(hour)))

    before = make_prediction(created_at=at(day - dt.timedelta(days=1), 23))
    first = make_prediction(created_at=at(day, 0))
    last = make_prediction(created_at=at(day, 23))
    after = make_prediction(created_at=at(day + dt.timedelta(days=1), 0))
    everything = Prediction.objects.all()
    assert _ids(filter_history(everything, {"created_after": day, "created_before": day})) == {first.pk, last.pk}
    assert _ids(filter_history(everything, {"created_after": day})) == {first.pk, last.pk, after.pk}
    assert _ids(filter_history(everything, {"created_before": day})) == {before.pk, first.pk, last.pk}


@pytest.mark.parametrize("query", ["zebra", "ZEBRA", "striped zeb", "café", 'say "hi"'])
def test_search_finds_text_inside_the_input(make_prediction, version, query):
    wanted = make_prediction(input={"text": 'a striped zebra in a café, say "hi"'})
    make_prediction(input={"text": "a horse"})
    assert _ids(filter_history(Prediction.objects.all(), {"q": query})) == {wanted.pk}


def test_search_matches_numbers_and_keys(make_prediction, version):
    wanted = make_prediction(input={"text": "x", "steps": 1234})
    make_prediction(input={"text": "x"})
    assert _ids(filter_history(Prediction.objects.all(), {"q": "1234"})) == {wanted.pk}


def test_history_holds_mine_and_teammates_runs_of_our_organizations_models(make_prediction, alice, bob, mallory,
                                                                          acme):
    org_version = Model.objects.create(owner=acme, name="tool").versions.create(version_id="c" * 64)
    mine = make_prediction()
    teammates = make_prediction(of=org_version, owner=bob)
    outsiders = make_prediction(of=org_version, owner=mallory)
    bobs_own = make_prediction(of=Model.objects.create(owner=bob, name="solo").versions.create(version_id="d" * 64))
    assert _ids(viewable_predictions(alice)) == {mine.pk, teammates.pk}
    assert can_view(alice, teammates) and can_view(alice, mine)
    assert not can_view(alice, outsiders) and not can_view(alice, bobs_own)
    assert not can_view(mallory, mine)


def _output_file(prediction: Prediction) -> File:
    f = File(kind=File.Kind.OUTPUT, owner=prediction.owner, prediction=prediction, name="output.txt",
             content_type="text/plain", size=2, sha256="0" * 64, md5="0" * 32)
    f.content.save("output.txt", ContentFile(b"hi"), save=False)
    f.save()
    return f


def test_remove_prediction_data_keeps_the_row_for_billing(make_prediction, version):
    prediction = make_prediction(status=Status.SUCCEEDED, output="hello", logs="ran",
                             metrics={"predict_time": 1.5})
    f = _output_file(prediction)
    path = f.content.path
    runs.remove_prediction_data(prediction)
    prediction.refresh_from_db()
    assert prediction.data_removed
    assert (prediction.input, prediction.output, prediction.logs) == ({}, None, "")
    assert prediction.metrics == {"predict_time": 1.5} and prediction.status == Status.SUCCEEDED
    assert not File.objects.filter(pk=f.pk).exists()
    assert not os.path.exists(path)


def test_remove_prediction_data_waits_for_the_end(make_prediction, version):
    prediction = make_prediction(status=Status.PROCESSING)
    with pytest.raises(Conflict):
        runs.remove_prediction_data(prediction)
    prediction.refresh_from_db()
    assert not prediction.data_removed and prediction.input == {"text": "hello"}


def test_history_page_filters_and_shows_field_errors(make_prediction, client, version, alice):
    make_prediction(status=Status.SUCCEEDED, input={"text": "needle"})
    make_prediction(status=Status.FAILED, input={"text": "hay"})
    client.force_login(alice)
    page = client.get("/history", {"status": "succeeded"}).content.decode()
    assert "needle" in page and "hay" not in page
    page = client.get("/history", {"q": "hay"}).content.decode()
    assert "hay" in page and "needle" not in page
    response = client.get("/history", {"model": "nonsense", "q": "kept"})
    assert "Write the model as owner/name." in response.content.decode()
    assert 'value="kept"' in response.content.decode()


def test_history_needs_login(client):
    response = client.get("/history")
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")


def test_prediction_page_is_404_for_others(make_prediction, client, mallory):
    prediction = make_prediction(status=Status.SUCCEEDED, output="hello")
    client.force_login(mallory)
    assert client.get(f"/p/{prediction.id}").status_code == 404
    assert client.post(f"/p/{prediction.id}/remove").status_code == 404
    prediction.refresh_from_db()
    assert not prediction.data_removed


def test_prediction_page_renders_markdown_sanitized(make_prediction, client, version, alice):
    prediction = make_prediction(status=Status.SUCCEEDED, output="**bold** <script>alert(1)</script>")
    client.force_login(alice)
    page = client.get(f"/p/{prediction.id}").content.decode()
    assert "<strong>bold</strong>" in page
    assert "<script>alert(1)" not in page


def test_a_running_prediction_page_streams_from_its_own_origin(make_prediction, alice, settings):
    """Relative, so a page opened at another host than PUBLIC_URL (a LAN address, a proxy) still streams."""
    settings.PUBLIC_URL = "http://public.example"
    prediction = make_prediction(status=Status.PROCESSING)
    page = client_for(alice).get(f"/p/{prediction.id}").content.decode()
    assert f'data-stream="/v1/predictions/{prediction.id}/stream"' in page


@pytest.mark.parametrize("target", ["/\t/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/",
                                    "javascript:alert(1)"])
def test_a_next_off_this_site_is_ignored(make_prediction, client, alice, target):
    """After removing a prediction's data the page goes back to `next` only if it is a path here:
    a tab, a backslash or a second slash would send the browser to another site."""
    prediction = make_prediction(status=Status.SUCCEEDED, output="hello")
    client.force_login(alice)
    assert target not in client.get(f"/p/{prediction.id}/remove", {"next": target}).content.decode()
    response = client.post(f"/p/{prediction.id}/remove", {"next": target})
    assert response.status_code == 302 and response["Location"] == f"/p/{prediction.id}"


def test_a_next_on_this_site_is_followed(make_prediction, client, alice):
    prediction = make_prediction(status=Status.SUCCEEDED, output="hello")
    client.force_login(alice)
    response = client.post(f"/p/{prediction.id}/remove", {"next": "/history?status=succeeded"})
    assert response["Location"] == "/history?status=succeeded"
