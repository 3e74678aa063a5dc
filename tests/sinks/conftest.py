"""Fixtures shared by the sink tests: ``http`` and ``receiver`` come from the shipped
``hub.contract.testing.pytest_plugin`` (enabled in tests/conftest.py), as for any plugin."""
