"""The first ConfigVersion row was made with an explicit id (0002), which leaves PostgreSQL's id sequence behind
it: the first named counter inserted later (``api-keys``) collided with id 1. Move the sequence past the rows
that exist (a no-op on SQLite, whose rowids follow the largest id)."""

from django.core.management.color import no_style
from django.db import migrations


def reset_sequence(apps, schema_editor):
    model = apps.get_model("portal", "ConfigVersion")
    statements = schema_editor.connection.ops.sequence_reset_sql(no_style(), [model])
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("portal", "0005_merge_api_keys_and_name_validators")]

    operations = [migrations.RunPython(reset_sequence, migrations.RunPython.noop)]
