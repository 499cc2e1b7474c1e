"""Model and version rules that the e2e tests cannot reach easily: shared bundles, hidden versions."""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.models import Membership, User
from playground.bundles import bundle_id, pack_dir
from playground.models import BuildStatus, Model, Prediction, Status, Version, Visibility
from playground.services import catalog

pytestmark = pytest.mark.django_db

VID = "b" * 64


def _version(owner, name: str) -> Version:
    model = Model.objects.create(owner=owner, name=name)
    version = Version.objects.create(model=model, version_id=VID, build_status=BuildStatus.READY)
    version.src_dir.mkdir(parents=True, exist_ok=True)
    version.bundle_path.write_bytes(b"bundle")
    return version


def test_deleting_a_version_keeps_a_bundle_another_model_shares(alice):
    first, second = _version(alice, "one"), _version(alice, "two")
    catalog.delete_version(first)
    assert not Version.objects.filter(pk=first.pk).exists()
    assert second.bundle_path.exists() and second.src_dir.exists()
    catalog.delete_version(second)
    assert not second.bundle_path.exists() and not second.src_dir.parent.exists()


def test_a_model_whose_deleted_versions_are_in_use_is_kept(alice):
    version = _version(alice, "used")
    Prediction.objects.create(owner=alice, model=version.model, version=version, status=Status.SUCCEEDED)
    catalog.delete_version(version)
    version.refresh_from_db()
    assert version.hidden
    with pytest.raises(catalog.Conflict, match="make it private"):
        catalog.delete_model(version.model)


def test_replacing_examples_drops_a_default_that_is_no_longer_one(alice):
    version = _version(alice, "shown")
    model = version.model
    first, second = (
        Prediction.objects.create(owner=alice, model=model, version=version, status=Status.SUCCEEDED)
        for _ in range(2)
    )
    catalog.update_model(model, {"default_example": first.pk})
    assert list(model.examples.all()) == [first] and model.default_example == first
    catalog.update_model(model, {"examples": [second.pk]})
    model.refresh_from_db()
    assert list(model.examples.all()) == [second] and model.default_example is None


def test_the_same_folder_pushed_to_two_models_gets_two_version_ids(tmp_path):
    (tmp_path / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (tmp_path / "predict.py").write_text("")
    data = pack_dir(tmp_path)
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    first, _ = catalog.push_version(alice, "same", data)
    second, _ = catalog.push_version(bob, "same", data)
    assert first.version_id == bundle_id(data)  # the plain sha256 while it is unique
    assert second.version_id != first.version_id
    assert catalog.push_version(bob, "same", data) == (second, False)  # pushing again: same version
    assert catalog.push_version(alice, "same", data) == (first, False)


@pytest.mark.parametrize("policy, allowed", [
    ("everyone", {"plain", "staff", "granted", "root"}),
    ("staff", {"staff", "root"}),
    ("granted", {"granted", "root"}),
])
def test_who_may_push_model_code_follows_the_push_setting(settings, tmp_path, policy, allowed):
    """COGMILL_PUSH: the rest get a 403 that says why, and nothing is stored; an operator's
    push_model always may."""
    from django.contrib.auth.models import Permission

    from playground.errors import Forbidden

    settings.COGMILL_PUSH = policy
    (tmp_path / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (tmp_path / "predict.py").write_text("")
    data = pack_dir(tmp_path)
    people = {
        "plain": User.objects.create_user("plain"),
        "staff": User.objects.create_user("staffer", is_staff=True),
        "granted": User.objects.create_user("granted"),
        "root": User.objects.create_superuser("root"),
    }
    people["granted"].user_permissions.add(Permission.objects.get(codename="push_model"))
    for who, user in people.items():
        user = User.objects.get(pk=user.pk)  # fresh permission cache
        if who in allowed:
            assert catalog.push_version(user, "m", data)[1] is True
        else:
            with pytest.raises(Forbidden, match=f"COGMILL_PUSH={policy}" if policy != "everyone" else "may not"):
                catalog.push_version(user, "m", data)
            assert not Model.objects.filter(owner=user).exists()
            assert catalog.push_version(user, "m", data, operator=True)[1] is True


def test_a_model_created_by_a_push_starts_private_unless_an_operator_pushed_it(tmp_path):
    (tmp_path / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (tmp_path / "predict.py").write_text("")
    alice = User.objects.create_user("alice")
    version, _ = catalog.push_version(alice, "fresh", pack_dir(tmp_path))
    assert version.model.visibility == "private"
    example, _ = catalog.push_version(alice, "example", pack_dir(tmp_path), operator=True)
    assert example.model.visibility == "public"


def test_one_model_in_hand_is_visible_to_exactly_whom_the_model_list_shows_it(alice, bob, carol, mallory, acme):
    # The create path checks a loaded model with is_visible_to; lists filter with visible_to.
    pending = User.objects.create_user("pending")
    Membership.objects.create(organization=acme, member=pending, accepted_at=None)  # invited, not accepted
    models = [Model.objects.create(owner=owner, name=f"m-{owner.username}-{visibility}", visibility=visibility)
              for owner in (alice, acme, mallory) for visibility in Visibility.values]
    for viewer in (AnonymousUser(), None, alice, bob, carol, mallory, pending):
        listed = set(Model.objects.visible_to(viewer).values_list("pk", flat=True))
        assert {m.pk for m in models if m.is_visible_to(viewer)} == listed & {m.pk for m in models}, viewer
    assert not next(m for m in models if m.owner == acme and m.visibility != "public").is_visible_to(pending)
