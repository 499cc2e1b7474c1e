"""Migrations that move data keep it: upgrading a database loses no webhook delivery."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("playground", "0005_sharing_and_galleries"), ("accounts", "0003_organizations")]
AFTER = [("playground", "0006_webhook_deliveries_of_runs")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_webhook_deliveries_keep_their_prediction_as_the_run_and_its_owner():
    old = _migrate(BEFORE)
    User = old.get_model("accounts", "User")
    alice = User.objects.create(username="alice")
    model = old.get_model("playground", "Model").objects.create(owner=alice, name="echo")
    version = old.get_model("playground", "Version").objects.create(model=model, version_id="a" * 64)
    prediction = old.get_model("playground", "Prediction").objects.create(
        id="p" * 26, owner=alice, model=model, version=version)
    old.get_model("playground", "WebhookDelivery").objects.create(
        id="msg_1", prediction=prediction, url="https://example.com/hook", event="completed", body="{}")

    new = _migrate(AFTER)
    delivery = new.get_model("playground", "WebhookDelivery").objects.get(id="msg_1")
    assert (delivery.run_id, delivery.owner_id, delivery.event) == ("p" * 26, alice.pk, "completed")

    _migrate(BEFORE)  # down works too; then up to the latest, for the tests after this one
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
