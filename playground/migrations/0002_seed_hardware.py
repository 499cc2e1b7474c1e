from decimal import Decimal

from django.db import migrations

SKUS = [
    ("cpu", "CPU", "0.000100"),
    ("gpu-t4", "Nvidia T4 GPU", "0.000225"),
    ("gpu-l40s", "Nvidia L40S GPU", "0.000975"),
    ("gpu-a100-large", "Nvidia A100 (80GB) GPU", "0.001400"),
    ("gpu-h100", "Nvidia H100 GPU", "0.001525"),
]


def seed(apps, schema_editor):
    Hardware = apps.get_model("playground", "Hardware")
    for sku, name, price in SKUS:
        Hardware.objects.get_or_create(sku=sku, defaults={"name": name, "price_per_second": Decimal(price)})


class Migration(migrations.Migration):
    dependencies = [("playground", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
