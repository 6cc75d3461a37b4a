"""SQL storage: tables, unit of work, migrations."""
