"""HTML email parts: CSS inlined for mail clients, and a plain-text fallback.

Most mail clients (Gmail's apps, Outlook) ignore or strip ``<style>`` blocks, so styles are
copied into ``style`` attributes after Jinja renders and before the message is sent, with
`css-inline <https://pypi.org/project/css-inline/>`_. Media queries stay in a ``<style>``
block for the clients that honour them. Remote stylesheets are never fetched (a template
cannot make the worker send requests) and ``<link>`` tags are dropped.
"""

from __future__ import annotations

from html.parser import HTMLParser

import css_inline

#: One inliner, reused: it is immutable and thread-safe.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False,
                                 keep_link_tags=False)

#: Elements that start a new line in the text version.
_BLOCKS = frozenset({"p", "div", "br", "tr", "table", "h1", "h2", "h3", "h4", "li", "ol",
                     "ul", "hr", "title", "section", "header", "footer"})
_SKIPPED = frozenset({"style", "script", "head", "title"})


class InlineError(Exception):
    """The HTML could not be processed for inlining (the message names no content)."""


def inline_css(html: str) -> str:
    """``html`` with its ``<style>`` rules copied into ``style`` attributes."""
    try:
        return _INLINER.inline(html)
    except (css_inline.InlineError, ValueError) as exc:
        raise InlineError(f"CSS inlining failed ({type(exc).__name__})") from None


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "a":
            self.href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(self.skipping - 1, 0)
        elif tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "a" and self.href and self.href.startswith(("http://", "https://")):
            self.parts.append(f" ({self.href})")
            self.href = None

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """A readable plain-text version of an HTML part (links kept as ``text (url)``), for
    templates that have an HTML file but no text file."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).splitlines()]
    text, blank = [], False
    for line in lines:
        if line:
            text.append(line)
            blank = False
        elif not blank and text:
            text.append("")
            blank = True
    return "\n".join(text).strip()
