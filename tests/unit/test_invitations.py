"""An organization's admin invites; only the invitee can join. Until then they are no member, and
once they join, only the runs they make from then on are the organization's to see."""

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import User
from playground.errors import NotFound
from playground.models import BuildStatus, Model, Prediction, Version
from playground.services import runs
from tests.unit.conftest import ECHO_SCHEMA, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def org_model(carol, alice):
    """acme-like: carol administers `lab`, alice is in it; `lab/tool` is its private model."""
    org = services.create_organization(carol, "lab")
    services.invite_member(org, carol, "alice")
    services.answer_invitation(alice, "lab", accept=True)
    model = Model.objects.create(owner=org, name="tool", visibility="private")
    return Version.objects.create(model=model, version_id="d" * 64, build_status=BuildStatus.READY,
                                  openapi_schema=ECHO_SCHEMA, cog_version="0.23.1")


def _run(owner: User, version: Version) -> Prediction:
    return Prediction.objects.create(owner=owner, model=version.model, version=version, input={"text": "x"},
                                     created_at=timezone.now())


def test_an_invitation_makes_no_member_and_opens_no_earlier_run(org_model, carol, mallory, alice):
    """The attack: an admin adds mallory, then reads the runs mallory made of the org's model
    (mallory had made them while it was shared with her some other way; here, directly)."""
    before = _run(mallory, org_model)
    services.invite_member(org_model.model.owner, carol, "mallory")
    assert not services.is_member(mallory, org_model.model.owner)
    assert not runs.can_view(carol, before) and not runs.can_view(alice, before)
    assert before not in runs.viewable_predictions(carol)
    assert client_for(carol).get(f"/p/{before.id}").status_code == 404
    assert client_for(mallory).get("/orgs/lab").status_code == 404  # not hers to see yet

    services.answer_invitation(mallory, "lab", accept=True)
    after = _run(mallory, org_model)
    assert not runs.can_view(carol, before)  # joining never opens one's earlier runs
    assert runs.can_view(carol, after) and after in runs.viewable_predictions(carol)


def test_the_invitee_sees_the_invitation_and_answers_it(org_model, carol, mallory):
    services.invite_member(org_model.model.owner, carol, "mallory")
    page = client_for(mallory).get("/account").content.decode()
    assert "<strong>lab</strong> invites you to join as member" in page
    assert "invited" in client_for(carol).get("/orgs/lab").content.decode()
    response = client_for(mallory).post("/orgs/lab/invitation", {"answer": "accept"})
    assert response.status_code == 302 and response["Location"] == "/orgs/lab"
    assert services.is_member(mallory, org_model.model.owner)


def test_declining_removes_the_invitation_and_nobody_answers_for_another(org_model, carol, mallory, bob):
    services.invite_member(org_model.model.owner, carol, "mallory")
    assert client_for(bob).post("/orgs/lab/invitation", {"answer": "accept"}).status_code == 404
    assert client_for(carol).post("/orgs/lab/invitation", {"answer": "accept"}).status_code == 404
    client_for(mallory).post("/orgs/lab/invitation", {"answer": "decline"})
    assert not services.is_member(mallory, org_model.model.owner)
    with pytest.raises(NotFound):
        services.answer_invitation(mallory, "lab", accept=True)
