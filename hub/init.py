"""``returnhub init``: prepare the data dir of a new installation.

Creates the data dir, the PII, lookup and portal keys (unless configured) and every secret
file that the config references under ``data_dir/secrets`` and that does not exist yet, with a
random value in the Standard Webhooks format (``whsec_`` + base64), which any HMAC scheme
accepts as a key. Existing files are never touched, so running it again is harmless.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from hub.keys import load_cipher, load_portal_key
from hub.security import ensure_secret_file

if TYPE_CHECKING:
    from hub.config import Settings


def new_webhook_secret() -> str:
    """A random ``whsec_...`` secret."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def init_data_dir(settings: Settings) -> list[Path]:
    """Create what is missing; returns the secret files created."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secrets_dir = (settings.data_dir / "secrets").resolve()
    before = set(secrets_dir.glob("*")) if secrets_dir.exists() else set()
    load_cipher(settings)
    load_portal_key(settings)  # a secret to back up with the others: made now, not at first serve
    for sections in (settings.sources, settings.sinks):
        for section in sections.values():
            for key, value in section.items():
                if not (key.endswith("_file") and isinstance(value, str)):
                    continue
                path = Path(value).resolve()
                if path.parent == secrets_dir and not path.exists():
                    ensure_secret_file(path, new_webhook_secret)
    created = sorted(set(secrets_dir.glob("*")) - before)
    return created
