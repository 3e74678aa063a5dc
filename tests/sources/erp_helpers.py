"""The Odoo example configuration (config/examples/erp-odoo.toml) as test settings."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from hub.config import SOURCE_POLICY_KEYS
from returnhub_erp.config import ErpSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "examples" / "erp-odoo.toml"
API_TOKEN = "erp-api-token"
WEBHOOK_SECRET = "odoo-webhook-secret"


def odoo_section() -> dict[str, Any]:
    """The example's ``[sources.odoo]`` table, secrets given inline instead of as files."""
    section = dict(tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))["sources"]["odoo"])
    section.pop("type")
    section.pop("bearer_token_file")
    section.pop("webhook_secret_file")
    for key in SOURCE_POLICY_KEYS:  # read by the core, not by the source
        section.pop(key, None)
    return {**section, "bearer_token": API_TOKEN, "webhook_secret": WEBHOOK_SECRET}


def odoo_settings(**overrides: Any) -> ErpSettings:
    """Validated settings of the Odoo example, with ``overrides`` applied on top."""
    return ErpSettings.model_validate({**odoo_section(), **overrides})
