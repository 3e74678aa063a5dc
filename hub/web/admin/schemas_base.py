"""The bases of the admin API's models (requests forbid unknown fields, responses read
attributes) and the models every endpoint shares: paging, ids, errors."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from hub.web.admin.ids import RowId

T = TypeVar("T")


class Strict(BaseModel):
    """A request model: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response model."""

    model_config = ConfigDict(from_attributes=True)


# --- common ---------------------------------------------------------------------------------

class PageQuery(Strict):
    """Keyset pagination: pass ``next_cursor`` of one page as ``cursor`` to get the next."""

    limit: int = Field(50, ge=1, le=200, description="Items per page (at most 200).")
    cursor: str | None = Field(None, max_length=500, description="``next_cursor`` of the "
                               "previous page.")


class Page(Out, Generic[T]):
    """One page of results."""

    items: list[T]
    next_cursor: str | None = Field(None, description="Cursor of the next page; null on the "
                                    "last page.")


class IntId(Strict):
    """A path naming an object by its numeric id."""

    id: RowId


class StrId(Strict):
    """A path naming an object by its string id."""

    id: str = Field(min_length=1, max_length=64, description="The hub's id of the object.")


class NameParam(Strict):
    """A path naming a connector."""

    name: str = Field(min_length=1, max_length=100, description="The connector instance name.")


class ErrorBody(Out):
    """What went wrong."""

    code: str = Field(description="Machine-readable reason, e.g. ``unknown_field``.")
    message: str = Field(description="For a human; names fields and ids, never customer data.")
    field: str | None = Field(None, description="The offending field or parameter, if one.")


class ErrorResponse(Out):
    """Every error answer."""

    error: ErrorBody
