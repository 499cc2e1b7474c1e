from django.conf import settings
from django.db import migrations, models


def measure_bundles(apps, schema_editor):
    """Versions pushed before their size was recorded: read it off the bundle on disk."""
    Version = apps.get_model("playground", "Version")
    for version in Version.objects.filter(base__isnull=True).only("pk", "version_id").iterator():
        bundle = settings.COGMILL_BUNDLES_DIR / f"{version.version_id}.tar.gz"
        if bundle.exists():
            Version.objects.filter(pk=version.pk).update(bundle_bytes=bundle.stat().st_size)


class Migration(migrations.Migration):

    dependencies = [
        ("playground", "0015_sealed_secrets"),
    ]

    operations = [
        migrations.AddField(
            model_name="version",
            name="bundle_bytes",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(measure_bundles, migrations.RunPython.noop),
    ]
