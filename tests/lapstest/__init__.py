"""Helpers and fixtures shared by several test folders (importable as ``lapstest``: pytest puts
``tests/`` on the path, see ``pythonpath`` in pyproject.toml)."""
