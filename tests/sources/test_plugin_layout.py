"""The source plugins load the way a third party's would."""

from __future__ import annotations

from hub.plugins import collect_connectors, get_plugin_manager

SOURCE_PLUGINS = {"shopify": "returnhub_shopify", "easypost": "returnhub_easypost",
                  "aftership": "returnhub_aftership", "shippo": "returnhub_shippo",
                  "erp": "returnhub_erp"}


def test_each_source_registers_through_its_entry_point() -> None:
    registry = collect_connectors(get_plugin_manager())
    for source_type, entry_point in SOURCE_PLUGINS.items():
        assert source_type in registry.sources
        assert registry.owners[source_type] == source_type, entry_point
