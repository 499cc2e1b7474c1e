"""Deployments' pages in-process: the list, the create form (its version picker, cost estimate and
the service's refusals beside their fields), a deployment's page (instances, the last hour,
releases, the run form), editing (a new release) and deleting, and who sees and does what."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from playground.models import Deployment, Instance, InstanceState, Prediction, Worker
from playground.services import deployments
from tests.unit.conftest import client_for

pytestmark = pytest.mark.django_db

FORM = {"owner": "alice", "name": "echo-prod", "model": "alice/echo", "version": "", "hardware": "cpu",
        "min_instances": "0", "max_instances": "2"}
HTMX = {"HTTP_HX_REQUEST": "true"}


def _deploy(user, name="echo-prod", owner=None, **config):
    config = {"hardware": "cpu", "min_instances": 0, "max_instances": 2, **config}
    return deployments.create_deployment(user, name, "alice/echo", None, config["hardware"], config["min_instances"],
                                         config["max_instances"], owner=owner)


def _field_error(page: str, field: str) -> str | None:
    """The errors shown beside `field`, or None when it has none."""
    found = re.search(rf'<div class="field has-error"[^>]*>\s*<label for="id_{field}".*?</div>\s*(?=<div|</div)',
                      page, re.DOTALL)
    return found[0] if found else None


def test_anonymous_visitors_are_sent_to_log_in(alice, version):
    _deploy(alice)
    for path in ("/deployments", "/deployments/new", "/deployments/alice/echo-prod", "/deployments/alice/echo-prod/edit"):
        response = client_for().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login?next=/deployments"), path
    assert client_for().post("/deployments/alice/echo-prod/predictions", {"text": "x"}).status_code == 302
    assert not Prediction.objects.exists()


def test_the_nav_links_to_deployments_for_people_logged_in(alice):
    assert 'href="/deployments"' in client_for(alice).get("/").content.decode()
    assert 'href="/deployments"' not in client_for().get("/").content.decode()


def test_the_list_shows_mine_and_my_organizations_not_others(alice, carol, mallory, acme, version):
    _deploy(alice, min_instances=1)
    _deploy(carol, name="team-echo", owner="acme")
    _deploy(mallory, name="theirs")
    page = client_for(alice).get("/deployments").content.decode()
    assert 'href="/deployments/alice/echo-prod"' in page and 'href="/deployments/acme/team-echo"' in page
    assert "mallory/theirs" not in page
    assert "1 requested" in page and "0–2" in page and "alice/echo" in page and "CPU" in page
    assert 'href="/deployments/new"' in page
    theirs = client_for(mallory).get("/deployments").content.decode()
    assert "mallory/theirs" in theirs and "alice/echo-prod" not in theirs


def test_an_empty_list_says_how_to_start(alice):
    page = client_for(alice).get("/deployments").content.decode()
    assert 'id="no-deployments"' in page and "create one" in page


def test_creating_one_makes_release_1_and_goes_to_its_page(alice, version):
    browser = client_for(alice)
    form = browser.get("/deployments/new").content.decode()
    assert '<option value="alice/echo">' in form  # the model suggestions
    assert '<option value="cpu" selected>CPU · $0.36/hour</option>' in form
    assert 'id="cost-estimate"' in form and "$0.00 – $0.36 per hour" in form
    response = browser.post("/deployments/new", FORM)
    assert response.status_code == 302 and response["Location"] == "/deployments/alice/echo-prod"
    deployment = Deployment.objects.get()
    release = deployment.current_release
    assert (release.number, release.version, release.max_instances, release.created_by) == (1, version, 2, alice)
    page = browser.get(response["Location"]).content.decode()
    assert "alice/echo-prod is created: release 1 is live." in page
    assert "$0.00 idle – $0.72 busy" in page and version.version_id[:12] in page


def test_the_version_picker_follows_the_model_typed(alice, mallory, version):
    picker = client_for(alice).get("/deployments/new", {"part": "versions", "model": "alice/echo"}, **HTMX)
    text = picker.content.decode()
    assert picker.status_code == 200 and "<html" not in text and 'id="version-field"' in text
    assert f'<option value="{version.version_id}">' in text and f"Latest ({version.version_id[:12]})" in text
    chosen = client_for(alice).get("/deployments/new", {"part": "versions", "model": "alice/echo",
                                                        "version": version.version_id}, **HTMX).content.decode()
    assert f'<option value="{version.version_id}" selected>' in chosen  # what was picked stays picked
    version.model.visibility = "private"
    version.model.save()
    theirs = client_for(mallory).get("/deployments/new", {"part": "versions", "model": "alice/echo"}, **HTMX)
    assert version.version_id not in theirs.content.decode()  # a private model's versions stay hidden


def test_the_estimate_follows_the_hardware_and_counts(alice):
    answer = client_for(alice).get("/deployments/new", {"part": "estimate", "hardware": "gpu-t4", "min_instances": "1",
                                                        "max_instances": "3"}, **HTMX).content.decode()
    assert "<html" not in answer and "$0.81 – $2.43 per hour" in answer and "Nvidia T4 GPU costs $0.81" in answer
    unknown = client_for(alice).get("/deployments/new", {"part": "estimate", "hardware": "cpu", "min_instances": "x",
                                                         "max_instances": "3"}, **HTMX).content.decode()
    assert "Pick the hardware and the instance counts" in unknown


@pytest.mark.parametrize(("changes", "field", "says"), [
    ({"min_instances": "3", "max_instances": "2"}, "min_instances", "Min instances can not be more than max instances"),
    ({"max_instances": "0"}, "max_instances", "Max instances must be at least 1"),
    ({"max_instances": "11"}, "max_instances", "from 0 to 10"),
    ({"max_instances": "two"}, "max_instances", "Enter a whole number."),
    ({"name": "Not A Name"}, "name", "deployment name"),
    ({"name": ""}, "name", "This field is required."),
    ({"model": "alice/nope"}, "version", "Invalid version or not permitted: alice/nope"),
    ({"model": "alice"}, "model", "Model must be owner/name"),
    ({"hardware": "gpu-nope"}, "hardware", "Select a valid choice"),
    ({"owner": "acme"}, "owner", "Select a valid choice"),
])
def test_refusals_show_beside_their_field_and_create_nothing(alice, version, changes, field, says):
    response = client_for(alice).post("/deployments/new", {**FORM, **changes})
    page = response.content.decode()
    assert response.status_code == 422
    error = _field_error(page, field)
    assert error is not None and says in error, page
    assert not Deployment.objects.exists()
    assert 'value="echo-prod"' in page or changes.get("name") is not None  # what was typed stays


def test_a_taken_name_is_said_on_the_name(alice, version):
    _deploy(alice)
    response = client_for(alice).post("/deployments/new", FORM)
    assert response.status_code == 422 and "already exists" in _field_error(response.content.decode(), "name")
    assert Deployment.objects.count() == 1


def test_an_admin_creates_one_for_the_organization(carol, acme, version):
    form = client_for(carol).get("/deployments/new").content.decode()
    assert '<option value="acme">acme</option>' in form
    response = client_for(carol).post("/deployments/new", {**FORM, "owner": "acme"})
    assert response["Location"] == "/deployments/acme/echo-prod"
    assert Deployment.objects.get().owner == acme


def test_the_page_shows_the_release_instances_and_the_last_hour(alice, version, make_prediction):
    deployment = _deploy(alice, min_instances=1)
    release = deployment.current_release
    worker = Worker.objects.create(name="<b>box</b>:7", hardware=["cpu"], heartbeat_at=timezone.now())
    Instance.objects.filter(release=release).update(worker=worker, state=InstanceState.READY, in_use=1, slots=2,
                                                    boot_seconds=3.5)
    now = timezone.now()
    make_prediction(release=release, status="succeeded", created_at=now - timedelta(minutes=3),
                    completed_at=now - timedelta(minutes=3) + timedelta(seconds=2), metrics={"cold_start": True})
    make_prediction(release=release, status="succeeded", created_at=now - timedelta(minutes=1),
                    completed_at=now - timedelta(minutes=1) + timedelta(seconds=4), metrics={"cold_start": False})
    page = client_for(alice).get("/deployments/alice/echo-prod").content.decode()
    assert 'href="/alice/echo?version=' in page and "1 min · 2 max" in page and "$0.36 idle – $0.72 busy" in page
    assert 'hx-get="/deployments/alice/echo-prod?part=instances" hx-trigger="every 2s"' in page
    assert "kept warm" in page and "busy" in page and "1 / 2" in page and "booted in 3.5s" in page
    assert "box</b>:7" not in page and "&lt;b&gt;box" not in page  # a host name is for staff only
    assert re.search(r"worker [0-9a-f]{6}", page)
    assert re.search(r'id="stat-requests">2<', page) and re.search(r'id="stat-cold-starts">1<', page)
    assert re.search(r'id="stat-p50">3.0s<', page)
    assert '<svg viewBox="0 0 360 100"' in page and 'data-requests="2" data-cold-starts="1"' in page
    assert 'id="release-1" class="current"' in page
    assert 'id="run-form"' in page and 'action="/deployments/alice/echo-prod/predictions"' in page
    assert 'name="text"' in page and 'id="edit-deployment"' in page and 'id="delete-deployment"' in page
    alice.is_staff = True
    alice.save()
    page = client_for(alice).get("/deployments/alice/echo-prod").content.decode()
    assert "&lt;b&gt;box&lt;/b&gt;:7" in page and "<b>box</b>" not in page  # named for staff, escaped


def test_the_instance_table_refreshes_as_a_partial(alice, version):
    deployment = _deploy(alice)
    browser = client_for(alice)
    empty = browser.get("/deployments/alice/echo-prod?part=instances", **HTMX).content.decode()
    assert "<html" not in empty and 'id="no-instances"' in empty and 'hx-trigger="every 2s"' in empty
    deployments.update_deployment(alice, deployment, {"min_instances": 1})
    table = browser.get("/deployments/alice/echo-prod?part=instances", **HTMX).content.decode()
    assert 'data-state="requested"' in table and "waiting for a worker" in table
    deployment.delete()
    gone = browser.get("/deployments/alice/echo-prod?part=instances", **HTMX)
    assert gone.status_code == 286  # htmx stops polling


def test_running_through_the_page_makes_a_prediction_of_the_release(alice, version):
    deployment = _deploy(alice)
    response = client_for(alice).post("/deployments/alice/echo-prod/predictions", {"text": "world"})
    prediction = Prediction.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/p/{prediction.id}"
    assert (prediction.release, prediction.source, prediction.input) == (deployment.current_release, "web",
                                                                         {"text": "world"})
    assert prediction.deployment == "alice/echo-prod"


def test_a_bad_run_input_stays_on_the_page_with_its_error(alice, version):
    _deploy(alice)
    response = client_for(alice).post("/deployments/alice/echo-prod/predictions", {"text": ""})
    page = response.content.decode()
    assert response.status_code == 422 and 'id="run-form"' in page and 'class="field input-string has-error' in page
    assert not Prediction.objects.exists()


def test_editing_makes_release_2_and_says_it_is_live(alice, version):
    _deploy(alice)
    browser = client_for(alice)
    form = browser.get("/deployments/alice/echo-prod/edit").content.decode()
    assert 'name="owner"' not in form and 'name="name"' not in form and "Save as release 2" in form
    assert f'<option value="{version.version_id}" selected>' in form and 'value="2"' in form
    response = browser.post("/deployments/alice/echo-prod/edit", {"model": "alice/echo", "version": version.version_id,
                                                                  "hardware": "gpu-t4", "min_instances": "1",
                                                                  "max_instances": "3"})
    assert response.status_code == 302 and response["Location"] == "/deployments/alice/echo-prod"
    page = browser.get(response["Location"]).content.decode()
    assert "Release 2 is live." in page and 'id="release-2" class="current"' in page and 'id="release-1"' in page
    release = Deployment.objects.get().current_release
    assert (release.number, release.hardware.sku, release.min_instances, release.max_instances) == (2, "gpu-t4", 1, 3)


def test_saving_the_edit_form_unchanged_makes_no_release(alice, version):
    deployment = _deploy(alice)
    release = deployment.current_release
    browser = client_for(alice)
    response = browser.post("/deployments/alice/echo-prod/edit", {
        "model": "alice/echo", "version": version.version_id, "hardware": release.hardware.sku,
        "min_instances": str(release.min_instances), "max_instances": str(release.max_instances)})
    assert response.status_code == 302
    assert "Nothing changed: release 1 stays live." in browser.get(response["Location"]).content.decode()
    assert Deployment.objects.get().releases.count() == 1


def test_a_refused_edit_makes_no_release(alice, version):
    _deploy(alice)
    response = client_for(alice).post("/deployments/alice/echo-prod/edit", {"model": "alice/echo", "version": "",
                                                                            "hardware": "cpu", "min_instances": "4",
                                                                            "max_instances": "2"})
    assert response.status_code == 422 and "can not be more than" in _field_error(response.content.decode(),
                                                                                  "min_instances")
    assert Deployment.objects.get().current_release.number == 1


def test_a_member_sees_and_runs_an_organizations_deployment_but_cannot_change_it(bob, carol, acme, version):
    _deploy(carol, owner="acme")
    member = client_for(bob)
    page = member.get("/deployments/acme/echo-prod").content.decode()
    assert 'id="run-form"' in page and 'id="edit-deployment"' not in page and 'id="delete-deployment"' not in page
    assert member.get("/deployments/acme/echo-prod/edit").status_code == 403
    assert member.post("/deployments/acme/echo-prod/edit", {**FORM, "min_instances": "1"}).status_code == 403
    assert member.get("/deployments/acme/echo-prod/delete").status_code == 403
    assert member.post("/deployments/acme/echo-prod/delete").status_code == 403
    assert Deployment.objects.get().current_release.number == 1
    ran = member.post("/deployments/acme/echo-prod/predictions", {"text": "team"})
    assert ran.status_code == 302 and Prediction.objects.get().owner == bob
    assert 'id="edit-deployment"' in client_for(carol).get("/deployments/acme/echo-prod").content.decode()


def test_an_outsider_is_told_it_does_not_exist(alice, mallory, version):
    _deploy(alice)
    outsider = client_for(mallory)
    for path in ("/deployments/alice/echo-prod", "/deployments/alice/echo-prod/edit",
                 "/deployments/alice/echo-prod/delete"):
        assert outsider.get(path).status_code == 404, path
    assert outsider.post("/deployments/alice/echo-prod/predictions", {"text": "x"}).status_code == 404
    assert outsider.post("/deployments/alice/echo-prod/delete").status_code == 404
    assert outsider.get("/deployments/alice/echo-prod?part=instances", **HTMX).status_code == 286
    assert not Prediction.objects.exists() and Deployment.objects.exists()


def test_deleting_asks_first_and_is_refused_while_runs_are_live(alice, version, make_prediction):
    deployment = _deploy(alice)
    browser = client_for(alice)
    confirm = browser.get("/deployments/alice/echo-prod/delete").content.decode()
    assert 'id="confirm-delete"' in confirm and "Delete alice/echo-prod?" in confirm
    running = make_prediction(release=deployment.current_release, status="processing")
    refused = browser.post("/deployments/alice/echo-prod/delete")
    assert refused.status_code == 409 and "still has predictions running" in refused.content.decode()
    Prediction.objects.filter(pk=running.pk).update(status="succeeded", completed_at=timezone.now())
    done = browser.post("/deployments/alice/echo-prod/delete")
    assert done.status_code == 302 and done["Location"] == "/deployments"
    assert not Deployment.objects.exists()
    assert "alice/echo-prod is deleted" in browser.get("/deployments").content.decode()


def test_every_form_posts_with_a_csrf_token(alice, version):
    _deploy(alice)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/deployments/new", FORM).status_code == 403
    assert strict.post("/deployments/alice/echo-prod/predictions", {"text": "x"}).status_code == 403
    assert strict.post("/deployments/alice/echo-prod/delete").status_code == 403
    page = strict.get("/deployments/alice/echo-prod").content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 2  # the run form and the log-out form
    assert Deployment.objects.count() == 1 and not Prediction.objects.exists()
