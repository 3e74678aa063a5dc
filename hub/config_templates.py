"""Settings of the live template library (``[templates]``, see ``docs/templates.md``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TemplateLibrarySettings(BaseModel):
    """How often a node looks for template changes (on disk and in the database)."""

    model_config = ConfigDict(extra="forbid")

    reload_interval_ms: int = Field(
        1000, ge=0, le=3_600_000, description="Look for changed templates (operator folder "
        "and templates saved through the admin API) at most this often, before rendering a "
        "message; 0 checks before every message.")
