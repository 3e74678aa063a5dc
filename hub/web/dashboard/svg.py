"""Charts drawn on the server as inline SVG (no script, nothing fetched: the dashboard has
no internet and a strict CSP). Colours and sizes are SVG attributes, which the CSP allows."""

from __future__ import annotations

from markupsafe import Markup, escape

#: Bar colours, one per series.
PALETTE = ("#1f6feb", "#2da44e", "#bf8700", "#cf222e", "#8250df")
_ROW = 22
_LABEL_WIDTH = 150
_BAR_WIDTH = 200


def bar_chart(title: str, labels: list[str], series: dict[str, list[float | None]],
              unit: str = "%", maximum: float | None = None) -> Markup:
    """Horizontal bars: one group per label, one bar per series (None: no bar, shown "–").

    ``maximum`` is the value of a full bar (100 for percentages; else the largest value)."""
    values = [v for column in series.values() for v in column if v is not None]
    top = maximum if maximum is not None else max(values, default=0.0) or 1.0
    per_group = max(1, len(series)) * (_ROW - 6) + 6
    height = max(1, len(labels)) * per_group + 20 + 18 * len(series)
    width = _LABEL_WIDTH + _BAR_WIDTH + 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} '
             f'{height}" width="{width}" height="{height}" aria-label="{escape(title)}">'
             f'<title>{escape(title)}</title>']
    y = 4
    for index, label in enumerate(labels):
        parts.append(f'<text x="0" y="{y + 13}" font-size="11" fill="#333">'
                     f'{escape(_short(label))}</text>')
        for number, (name, column) in enumerate(series.items()):
            value = column[index] if index < len(column) else None
            bar = 0.0 if value is None else _BAR_WIDTH * min(value, top) / top
            colour = PALETTE[number % len(PALETTE)]
            text = "–" if value is None else f"{value:g}{unit}"
            parts.append(
                f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{bar:.1f}" height="{_ROW - 8}" '
                f'fill="{colour}" data-series="{escape(name)}" data-label="{escape(label)}" '
                f'data-value="{"" if value is None else value}"><title>{escape(label)} · '
                f'{escape(name)}: {text}</title></rect>'
                f'<text x="{_LABEL_WIDTH + bar + 4:.1f}" y="{y + 11}" font-size="10" '
                f'fill="#555">{text}</text>')
            y += _ROW - 6
        y += 6
    y += 6
    for number, name in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        parts.append(f'<rect x="0" y="{y}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="14" y="{y + 9}" font-size="10" fill="#333">{escape(name)}'
                     '</text>')
        y += 18
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text put in above is escaped


def _short(label: str, size: int = 24) -> str:
    return label if len(label) <= size else label[:size - 1] + "…"
