"""The console roles "Operators" and "Auditors" with their permissions (issue: the operator console).

``portal.apps`` also re-syncs them after every migrate (and after the flush between transactional tests),
so they stay complete when later migrations add models.
"""

from django.db import migrations


def create_roles(apps, schema_editor):
    from portal.console import roles_sync

    roles_sync(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("portal", "0002_config_version"),
        ("keyprofiles", "0002_rotation_states"),
        ("tokens", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
