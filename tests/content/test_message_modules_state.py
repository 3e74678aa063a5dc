"""A module shared within a message (hub.content.modules) must hold what Jinja would have made.

Sharing is keyed by the identity of the values the imported template reads. A value can keep
its identity and still change between two imports (a namespace the importer assigns into, an
iterator, a joiner or cycler the importer made), and a filter can
read a name the template never writes (``money``, ``date`` and ``number`` read ``locale``).
Each test renders one template twice, inside :func:`one_message` and outside it (Jinja's own
behaviour), and expects the same text."""

from __future__ import annotations

import pytest

from hub.content.modules import one_message
from hub.templates import TemplateRenderer


def both(library: dict[str, str], page: str = "page.j2", **context) -> tuple[str, str]:
    """(Jinja's output, the output with modules shared within one message)."""
    renderer = TemplateRenderer(library=library)
    template = renderer.text_env.get_template(page)
    jinja = template.render(**context)
    with one_message():
        shared = template.render(**context)
    return jinja, shared


#: (what changes, the templates, what Jinja renders): a value that keeps its identity while
#: it changes between two imports.
CHANGING_VALUES = [
    ("a namespace the importer assigns into between two imports", {
        "seen.j2": "{% set value = ns.n %}",
        "page.j2": "{% set ns = namespace(n=1) %}"
                   "{% import 'seen.j2' as a with context %}"
                   "{% set ns.n = 2 %}"
                   "{% import 'seen.j2' as b with context %}"
                   "{{ a.value }}{{ b.value }}",
    }, "12"),
    ("an iterator the module advances", {
        "head.j2": "{% set first = names|first %}",
        "page.j2": "{% set names = ['ada', 'bo']|map('upper') %}"
                   "{% import 'head.j2' as a with context %}"
                   "{% import 'head.j2' as b with context %}"
                   "{{ a.first }} {{ b.first }}",
    }, "ADA BO"),
    ("a joiner made by the importer and called by the module", {
        "item.j2": "{% set text = sep() ~ 'x' %}",
        "page.j2": "{% set sep = joiner('-') %}"
                   "{% import 'item.j2' as a with context %}"
                   "{% import 'item.j2' as b with context %}"
                   "{{ a.text }}|{{ b.text }}|{{ sep() }}",
    }, "x|-x|-"),
    ("a cycler made by the importer and advanced by the module", {
        "row.j2": "{% set colour = rows.next() %}",
        "page.j2": "{% set rows = cycler('odd', 'even') %}"
                   "{% import 'row.j2' as a with context %}"
                   "{% import 'row.j2' as b with context %}"
                   "{{ a.colour }} {{ b.colour }} {{ rows.next() }}",
    }, "odd even odd"),
]


@pytest.mark.parametrize(("library", "expected"), [case[1:] for case in CHANGING_VALUES],
                         ids=[case[0] for case in CHANGING_VALUES])
def test_a_value_that_changes_while_it_keeps_its_identity(library, expected):
    jinja, shared = both(library)
    assert jinja == expected
    assert shared == jinja


@pytest.mark.parametrize("filter_", ["money('EUR')", "number"])
def test_a_locale_filter_reads_the_locale_the_module_never_names(filter_):
    # money/number/date are pass_context filters: they read ``locale`` from the context, a
    # name missing from the module's free names.
    jinja, shared = both({
        "price.j2": "{% set shown = 1234.5|" + filter_ + " %}",
        "page.j2": "{% import 'price.j2' as a with context %}"
                   "{% set locale = 'de' %}"
                   "{% import 'price.j2' as b with context %}"
                   "{{ a.shown }} / {{ b.shown }}",
    }, locale="en")
    assert jinja.split(" / ")[0] != jinja.split(" / ")[1]  # Jinja formats each in its locale
    assert shared == jinja
