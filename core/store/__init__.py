"""The SQLite database and every query on it: the schema, migrations and the Store
(`database`), review edits with their undo log (`review`), respondents and their attributes
(`respondents`), the sessions list and full-text search (`browse`), deletion (`deletion`).
SQL lives in this package and nowhere else in core.

Imports core.base and core.study (a session keeps its guide).
"""
