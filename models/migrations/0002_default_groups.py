"""Create the three groups that permissions are decided by (DESIGN.md, "Who may do what")."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [
        ops.RunSQL(
            "INSERT INTO auth_group (name) VALUES ('DRH'), ('RESPONSABLE_RH'), ('MANAGER')",
            reverse_sql="DELETE FROM auth_group WHERE name IN ('DRH', 'RESPONSABLE_RH', 'MANAGER')",
        )
    ]
