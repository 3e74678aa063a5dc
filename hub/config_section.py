"""The base of every section model of the configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A configuration section: an unknown key is an error (a misspelt setting is reported)."""

    model_config = ConfigDict(extra="forbid")
