from django.db import migrations, models

from playground.cogschema import CogSchema

MASK = "**********"  # playground/sealing.py's, as it was when this ran
TERMINAL = ("succeeded", "failed", "canceled")


def mask_ended_runs(apps, schema_editor):
    """Runs that ended before secrets were sealed kept them in clear in `input`: mask them."""
    Version = apps.get_model("playground", "Version")
    for kind, training in (("Prediction", False), ("Training", True)):
        Run = apps.get_model("playground", kind)
        for version in Version.objects.exclude(openapi_schema={}).only("pk", "openapi_schema").iterator():
            schema = CogSchema(version.openapi_schema, training=training)
            secret = [name for name, k in schema.input_kinds().items() if k == "secret"]
            if not secret:
                continue
            for run in Run.objects.filter(version=version, status__in=TERMINAL).only("pk", "input").iterator():
                data = run.input if isinstance(run.input, dict) else {}
                if any(data.get(name) not in (None, MASK) for name in secret):
                    masked = {**data, **{name: MASK for name in secret if data.get(name) is not None}}
                    Run.objects.filter(pk=run.pk).update(input=masked)


class Migration(migrations.Migration):

    dependencies = [
        ('playground', '0014_sandbox'),
    ]

    operations = [
        migrations.AddField(
            model_name='prediction',
            name='sealed_secrets',
            field=models.TextField(blank=True, default=''),
        ),
        migrations.AddField(
            model_name='training',
            name='sealed_secrets',
            field=models.TextField(blank=True, default=''),
        ),
        migrations.RunPython(mask_ended_runs, migrations.RunPython.noop),
    ]
