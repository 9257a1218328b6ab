"""The unified database: schema, migrations, the group-commit writer, repository, maintenance."""
