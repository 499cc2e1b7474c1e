# Runs are claimed with a lease their worker renews, and remember when their queue message was sent,
# so beat can tell a run whose worker died, or whose message was lost, from one that is just busy.

from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.db.models import F
from django.utils import timezone


def dispatched_when_created(apps, schema_editor):
    """Existing runs were queued when created. Runs that workers of the previous release may still
    be running get a lease as long as a run may last, so upgrading does not fail them on the spot:
    the reaper takes them after that, as before."""
    Prediction = apps.get_model("playground", "Prediction")
    Prediction.objects.update(dispatched_at=F("created_at"), dispatches=1)
    running_until = timezone.now() + timedelta(seconds=settings.COGMILL_PREDICTION_TIMEOUT + 120)
    Prediction.objects.filter(status="processing").update(lease_expires_at=running_until)


class Migration(migrations.Migration):
    dependencies = [("playground", "0006_webhook_deliveries_of_runs")]

    operations = [
        migrations.AddField(
            model_name="prediction", name="worker", field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="prediction", name="lease_expires_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="prediction", name="dispatched_at", field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="prediction", name="dispatches", field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(dispatched_when_created, migrations.RunPython.noop),
    ]
