"""The campaign tests share the fake provider servers of the delivery tests."""

from tests.delivery.conftest import providers  # noqa: F401 (a fixture, found by name)
