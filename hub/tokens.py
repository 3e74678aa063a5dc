"""Admin API tokens: creation, lookup, revocation, scopes and region/category limits.

A token is ``rh_`` followed by 43 random URL-safe characters (256 bits). It is shown once, when
created; the database keeps only its SHA-256 (a fast hash is enough for a high-entropy secret:
nobody can guess one from its hash). Scopes are ordered: ``read`` < ``operate`` < ``admin``;
a token holds one and may do everything below it. A token may also be limited to regions
(countries or groups such as ``EU``) and product categories; :func:`token_allows` decides.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from hub.store.models import ApiToken

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncSession

#: Every scope, lowest first.
SCOPES: tuple[str, ...] = ("read", "operate", "admin")
#: The prefix every token starts with (lets secret scanners recognise a leaked token).
TOKEN_PREFIX = "rh_"  # noqa: S105 (a prefix, not a secret)
#: ``last_used_at`` is written at most this often per token (no write on every request).
LAST_USED_RESOLUTION = timedelta(minutes=1)

#: Region groups a token may be limited to, as ISO 3166 alpha-2 country codes.
REGION_GROUPS: dict[str, frozenset[str]] = {
    "EU": frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI "
                    "ES SE".split()),
    "EEA": frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI "
                     "ES SE IS LI NO".split()),
    "NA": frozenset({"US", "CA", "MX"}),
    "UK": frozenset({"GB"}),
}


def expand_region(region: str) -> frozenset[str]:
    """The codes a token limit covers: the region itself and, for a group, its countries."""
    code = region.strip().upper()
    return frozenset({code}) | REGION_GROUPS.get(code, frozenset())


class TokenError(Exception):
    """A token operation is not possible (duplicate name, unknown scope, unknown token)."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What a token grants; never holds the token itself."""

    id: int
    name: str
    scope: str
    regions: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def limited(self) -> bool:
        """Whether the token is limited to some regions or categories."""
        return bool(self.regions or self.categories)

    @property
    def allowed_regions(self) -> frozenset[str]:
        """Region codes the limits cover (``EU`` → its member countries), upper case."""
        allowed: set[str] = set()
        for region in self.regions:
            allowed |= expand_region(region)
        return frozenset(allowed)

    def allows_scope(self, required: str) -> bool:
        """Whether this token's scope covers ``required``."""
        return scope_rank(self.scope) >= scope_rank(required)


def scope_rank(scope: str) -> int:
    """The position of ``scope`` in :data:`SCOPES`; raises :class:`TokenError` if unknown."""
    try:
        return SCOPES.index(scope)
    except ValueError:
        raise TokenError(f"unknown scope {scope!r} (use one of {', '.join(SCOPES)})") from None


def generate_token() -> str:
    """A new random token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _normalize(values: Iterable[str], *, upper: bool) -> tuple[str, ...]:
    cleaned = {v.strip().upper() if upper else v.strip().lower() for v in values if v.strip()}
    return tuple(sorted(cleaned))


def token_info(row: ApiToken) -> TokenInfo:
    """A :class:`TokenInfo` from its row."""
    scopes = [s for s in (row.scopes or []) if s in SCOPES]
    scope = max(scopes, key=SCOPES.index) if scopes else "read"
    return TokenInfo(id=row.id, name=row.name, scope=scope, regions=tuple(row.regions or ()),
                     categories=tuple(row.categories or ()), created_at=row.created_at,
                     last_used_at=row.last_used_at, revoked_at=row.revoked_at)


def token_allows(token: TokenInfo, region: str | None, category: str | None) -> bool:
    """Whether ``token``'s limits cover an object in ``region`` with ``category``.

    An unlimited dimension allows everything, including "unknown" (None). A limited one allows
    only known values inside it: a region-limited token never sees an object whose region is
    unknown, and a rule that applies to every region (``region=None``) is outside any
    region-limited token. Regions match by code or group (a token for ``EU`` allows ``DE``);
    categories match case-insensitively.
    """
    if token.regions:
        if not region or region.strip().upper() not in token.allowed_regions:
            return False
    if token.categories:
        if not category or category.strip().lower() not in {
                c.strip().lower() for c in token.categories}:
            return False
    return True


def token_allows_any(token: TokenInfo, regions: Iterable[str | None],
                     categories: Iterable[str | None]) -> bool:
    """:func:`token_allows` for an object with several regions or categories (a return with
    items in several categories): allowed when some region and some category are allowed."""
    regions = list(regions) or [None]
    categories = list(categories) or [None]
    return any(token_allows(token, r, c) for r in regions for c in categories)


async def create_token(session: AsyncSession, name: str, scope: str, now: datetime, *,
                       regions: Iterable[str] = (), categories: Iterable[str] = ()
                       ) -> tuple[str, TokenInfo]:
    """Store a new token; returns the token (show it once) and what it grants."""
    scope_rank(scope)
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("a token name must have 1 to 100 characters")
    existing = (await session.execute(select(ApiToken.id).where(ApiToken.name == name))).first()
    if existing is not None:
        raise TokenError(f"a token named {name!r} already exists (revoke it or pick another "
                         "name)")
    token = generate_token()
    row = ApiToken(name=name, token_hash=hash_token(token), scopes=[scope],
                   regions=list(_normalize(regions, upper=True)),
                   categories=list(_normalize(categories, upper=False)), created_at=now)
    session.add(row)
    await session.flush()
    return token, token_info(row)


async def list_tokens(session: AsyncSession) -> list[TokenInfo]:
    """Every token, revoked ones included, oldest first."""
    rows = (await session.execute(select(ApiToken).order_by(ApiToken.id))).scalars()
    return [token_info(row) for row in rows]


async def revoke_token(session: AsyncSession, name: str, now: datetime) -> TokenInfo:
    """Revoke the token called ``name`` (from now on it is refused)."""
    row = (await session.execute(select(ApiToken).where(ApiToken.name == name))
           ).scalar_one_or_none()
    if row is None:
        raise TokenError(f"no token named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = now
    return token_info(row)


async def authenticate(session: AsyncSession, token: str, now: datetime) -> TokenInfo | None:
    """The token's grant, or None for an unknown or revoked token. Records its last use."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = (await session.execute(select(ApiToken).where(
        ApiToken.token_hash == hash_token(token)))).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        await session.execute(update(ApiToken).where(ApiToken.id == row.id)
                              .values(last_used_at=now)
                              .execution_options(synchronize_session=False))
    return token_info(row)
