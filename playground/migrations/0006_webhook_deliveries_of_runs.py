# Webhook deliveries name their run by id (a prediction now, a training next) and carry the owner
# whose secret signs them, instead of a foreign key to Prediction.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F, OuterRef, Subquery


def copy_run_and_owner(apps, schema_editor):
    Delivery = apps.get_model("playground", "WebhookDelivery")
    Prediction = apps.get_model("playground", "Prediction")
    owner = Prediction.objects.filter(pk=OuterRef("prediction_id")).values("owner_id")[:1]
    Delivery.objects.update(run_id=F("prediction_id"), owner_id=Subquery(owner))


def copy_back(apps, schema_editor):
    Delivery = apps.get_model("playground", "WebhookDelivery")
    Prediction = apps.get_model("playground", "Prediction")
    Delivery.objects.exclude(run_id__in=Prediction.objects.values("pk")).delete()  # no run to point at
    Delivery.objects.update(prediction_id=F("run_id"))


class Migration(migrations.Migration):
    dependencies = [
        ("playground", "0005_sharing_and_galleries"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="run_id",
            field=models.CharField(db_index=True, default="", max_length=26),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="owner",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="webhook_deliveries",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="prediction",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="webhook_deliveries",
                to="playground.prediction",
            ),
        ),
        migrations.RunPython(copy_run_and_owner, copy_back),
        migrations.RemoveField(model_name="webhookdelivery", name="prediction"),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="owner",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="webhook_deliveries",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        # Prediction's keys are declared once for every kind of run (playground.models.runs.Run);
        # their reverse names are unchanged ("predictions"), so these touch no table.
        migrations.AlterField(
            model_name="prediction",
            name="model",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="%(class)ss", to="playground.model"
            ),
        ),
        migrations.AlterField(
            model_name="prediction",
            name="owner",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="%(class)ss", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AlterField(
            model_name="prediction",
            name="version",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="%(class)ss", to="playground.version"
            ),
        ),
    ]
