"""A store's brand: the default ``[notifications.brand]`` merged with the store's override.

A store is the source its returns come from; ``[notifications.brands.<source>]`` sets only the
fields that differ (a logo, a colour, a sign-off), so no template is copied to change a voice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.content.text import one_line, safe_color, safe_url

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hub.config import BrandOverride, BrandSettings


def merge_brand(default: BrandSettings, override: BrandOverride | None) -> BrandSettings:
    """``default`` with every field ``override`` sets replaced, cleaned for use in messages:
    one-line names (they reach email headers), an http(s) logo URL, a CSS-safe colour."""
    merged = default.model_dump()
    if override is not None:
        merged.update(override.model_dump(exclude_none=True))
    for field in ("store_name", "from_name", "sign_off"):
        if merged.get(field) is not None:
            merged[field] = one_line(merged[field])
    merged["logo_url"] = safe_url(merged.get("logo_url"))
    merged["primary_color"] = safe_color(merged.get("primary_color"),
                                         type(default).model_fields["primary_color"].default)
    return type(default).model_validate(merged)


def brand_for(default: BrandSettings, overrides: Mapping[str, BrandOverride],
              source: str | None) -> BrandSettings:
    """The brand of the store ``source`` (the default brand for an unknown source)."""
    return merge_brand(default, overrides.get(source) if source else None)
