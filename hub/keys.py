"""The PII keys: from config, or generated once into the data dir for the embedded default."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.security import PiiCipher, ensure_secret_file, generate_fernet_key

if TYPE_CHECKING:
    from hub.config import Settings


def load_cipher(settings: Settings) -> PiiCipher:
    """A :class:`PiiCipher` from ``[security]``; missing keys are generated into
    ``data_dir/secrets`` (mode 0600) so that `make run` needs no set-up. Production sets
    ``RETURNHUB_SECURITY__PII_KEYS`` and ``RETURNHUB_SECURITY__LOOKUP_KEY`` instead."""
    secrets_dir = settings.data_dir / "secrets"
    keys = [key.get_secret_value() for key in settings.security.pii_keys]
    if not keys:
        keys = [ensure_secret_file(secrets_dir / "pii.key", generate_fernet_key)]
    lookup = (settings.security.lookup_key.get_secret_value() if settings.security.lookup_key
              else ensure_secret_file(secrets_dir / "lookup.key"))
    return PiiCipher(keys, lookup)


def load_portal_key(settings: Settings) -> bytes:
    """The key that signs portal links: from config, or generated once into the data dir."""
    if settings.security.portal_key:
        return settings.security.portal_key.get_secret_value().encode()
    return ensure_secret_file(settings.data_dir / "secrets" / "portal.key").encode()
