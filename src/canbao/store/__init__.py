"""Database tables, migrations and the unit of work."""
