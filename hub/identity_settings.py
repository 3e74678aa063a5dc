"""A source's return identity settings (issue 16), written in its ``[sources.<name>]``
section beside the other core settings (:class:`hub.config.SourcePolicy`)."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from hub.identity import (
    DEFAULT_FIELDS,
    DEFAULT_MATCH,
    OWN_ID,
    IdentityRules,
    valid_path,
)


class SourceIdentity(BaseModel):
    """Which references a source's events carry and which of them find a return."""

    identity_scope: str = Field(
        "default", min_length=1, max_length=100, description="Sources sharing a scope find "
        "each other's returns (one merchant's Shopify, ERP and carriers).")
    references: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_FIELDS), description="Reference kind → event "
        "field it is read from (`order_number`, `order_id`, `return_id`, `tracking.number`, "
        "`extra.<key>`). Every reference is linked to the return the event applies to.")
    match: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MATCH), description="Reference kinds (keys of "
        "`references`) this source's events find an existing return by, besides the source's "
        "own return id, e.g. [\"order_number\", \"tracking_number\", \"rma\"].")

    @field_validator("references")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(kind for kind, path in value.items() if not valid_path(path))
        if bad:
            raise ValueError(f"unknown event field for {', '.join(bad)} (use order_number, "
                             "order_id, return_id, tracking.number or extra.<key>)")
        too_long = sorted(kind for kind in value if not 0 < len(kind) <= 32 or kind == OWN_ID)
        if too_long:
            raise ValueError(f"a kind is 1 to 32 characters and not {OWN_ID!r}: "
                             f"{', '.join(too_long)}")
        return value

    @field_validator("match")
    @classmethod
    def _mapped(cls, value: list[str], info: ValidationInfo) -> list[str]:
        unknown = sorted(set(value) - set(info.data.get("references") or {}))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a key of `references`")
        return value

    def identity_rules(self) -> IdentityRules:
        """These settings as the matcher reads them."""
        return IdentityRules(scope=self.identity_scope, match=tuple(self.match),
                             fields=dict(self.references))
