"""The one rule for a promotional email's unsubscribe link: both its parts show it.

A campaign template that leaves it out (or hides the layout's footer, say by setting
``category`` itself) would send offers the customer cannot opt out of from the message. The
``List-Unsubscribe`` header alone does not count: many clients never show it.
"""

from __future__ import annotations

from markupsafe import escape


def missing_unsubscribe_link(text: str, html: str | None, link: str) -> str | None:
    """Why a promotional email with these parts lacks its unsubscribe ``link``; None when both
    show it (the HTML part as escaped text or in an attribute)."""
    parts = [name for name, shown in (
        ("text", link in text),
        ("HTML", html is None or link in html or str(escape(link)) in html)) if not shown]
    if not parts:
        return None
    return (f"a promotional email must show its unsubscribe link ({{{{ unsubscribe_url }}}}) "
            f"in its {' and '.join(parts)} part{'s' if len(parts) > 1 else ''}")
