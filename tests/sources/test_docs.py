"""docs/sources.md stays true: every source setting is documented, every example validates, and
the Odoo worked example is the file shipped in config/examples."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from hub.assembly import validate_connectors
from hub.config import SOURCE_POLICY_KEYS, Settings
from hub.plugins import ConnectorRegistry
from returnhub_aftership import AfterShipSource
from returnhub_easypost import EasyPostSource
from returnhub_erp import ErpSource
from returnhub_erp.config import ErpMapping
from returnhub_shippo import ShippoSource
from returnhub_shopify import ShopifySource

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "erp-odoo.toml"
SOURCES = {cls.type: cls for cls in (ShopifySource, EasyPostSource, AfterShipSource,
                                     ShippoSource, ErpSource)}
#: One page per source under docs/connectors/.
PAGES = {name: (ROOT / "docs" / "connectors" / f"{name}.md").read_text(encoding="utf-8")
         for name in SOURCES}
DOC = "\n".join(PAGES.values())


def toml_examples() -> list[dict]:
    """Every ``[sources.<name>]`` table in the doc's TOML blocks."""
    tables = []
    for block in re.findall(r"```toml\n(.*?)```", DOC, flags=re.S):
        tables.extend(tomllib.loads(block).get("sources", {}).values())
    return tables


def section(source_type: str) -> str:
    return PAGES[source_type]


@pytest.mark.parametrize("source_type", sorted(SOURCES))
def test_every_setting_is_documented(source_type) -> None:
    text = section(source_type)
    names = set(SOURCES[source_type].Config.model_fields)
    if source_type == "erp":
        names |= set(ErpMapping.model_fields)
    for name in sorted(names):
        assert f"`{name}`" in text, \
            f"{source_type}.{name} is missing from docs/connectors/{source_type}.md"


def test_every_source_has_a_valid_example() -> None:
    examples = toml_examples()
    assert sorted({table["type"] for table in examples}) == sorted(SOURCES)
    for table in examples:
        body = {key.removesuffix("_file"): ("secret-from-a-file-0123" if key.endswith("_file")
                                            else value)
                for key, value in table.items() if key != "type" and key not in SOURCE_POLICY_KEYS}
        SOURCES[table["type"]].Config.model_validate(body)


def test_the_odoo_example_in_the_doc_is_the_shipped_file() -> None:
    shipped = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["sources"]["odoo"]
    documented = next(t for t in toml_examples() if t.get("base_url") == shipped["base_url"])
    assert documented == shipped


def test_the_shipped_example_passes_the_hubs_own_validation(tmp_path) -> None:
    table = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["sources"]["odoo"]
    for key in [k for k in table if k.endswith("_file")]:
        secret = tmp_path / key
        secret.write_text("a-secret-value\n")
        table[key] = str(secret)
    registry = ConnectorRegistry(sources=dict(SOURCES))
    specs = validate_connectors(Settings(sources={"odoo": table}), registry)
    config = specs["odoo"].config
    assert config.bearer_token.get_secret_value() == "a-secret-value"
    assert specs["odoo"].policy.poll_interval_seconds == 60


def test_every_status_and_topic_table_row_names_real_event_types() -> None:
    from hub.events import EventType

    named = set(re.findall(r"`((?:return|privacy)\.[a-z_]+)`", DOC))
    assert named <= {t.value for t in EventType}
