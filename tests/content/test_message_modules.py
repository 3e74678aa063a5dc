"""Imports with context run once per message (hub.content.modules), and only where running
them again could not have given anything else."""

from __future__ import annotations

import gc
from collections import Counter

import jinja2
import pytest

from hub.config import Settings
from hub.content.samples import sample_context
from hub.templates import TemplateRenderer


@pytest.fixture
def runs(monkeypatch) -> Counter:
    """How many times Jinja itself made each module (sharing happens before its code)."""
    counted: Counter = Counter()
    made = jinja2.Template.make_module

    def counting(self, vars=None, shared=False, locals=None):  # noqa: A002 (Jinja's names)
        counted[self.name] += 1
        return made(self, vars, shared, locals)

    monkeypatch.setattr(jinja2.Template, "make_module", counting)
    return counted


def probe(library: dict[str, str]):
    """An email of the template ``probe`` whose subject and text come from ``library``; the
    subject and the text part run in the same (plain-text) environment."""
    renderer = TemplateRenderer(library=library)
    message = renderer.render("probe", "email", {"locale": "en", "stage": "probe"})
    return message.subject, message.text


def test_the_bundled_email_makes_each_module_once_per_environment(runs):
    renderer = TemplateRenderer()
    context = sample_context(Settings(), "approved", "email")
    renderer.render("approved", "email", context)
    runs.clear()
    renderer.render("approved", "email", context)
    # Eight imports of the shared words and one of each partial; the HTML and the text part
    # each need their own module (one escapes, the other does not).
    assert runs == {"_i18n/common.j2": 2, "_partials/html.j2": 1, "_partials/text.j2": 1}


def test_the_escaping_of_each_part_is_its_own():
    library = {
        "words.j2": "{% macro quote() %}{{ 'a<b' }}{% endmacro %}",
        "probe/email.subject.j2": "{% import 'words.j2' as w with context %}{{ w.quote() }}",
        "probe/email.txt.j2": "{% import 'words.j2' as w with context %}{{ w.quote() }}",
        "probe/email.html.j2": "{% import 'words.j2' as w with context %}<p>{{ w.quote() }}</p>",
    }
    renderer = TemplateRenderer(library=library)
    message = renderer.render("probe", "email", {"locale": "en", "stage": "probe"})
    assert (message.subject, message.text) == ("a<b", "a<b")
    assert "<p>a&lt;b</p>" in message.html


def test_an_import_that_sees_other_values_gets_its_own_module(runs):
    library = {
        "words.j2": "{% set word = who ~ '!' %}",
        "probe/email.subject.j2": "{% set who = 'Ada' %}{% import 'words.j2' as w with context %}"
                                  "{{ w.word }}",
        "probe/email.txt.j2": "{% set who = 'Bo' %}{% import 'words.j2' as w with context %}"
                              "{{ w.word }}",
    }
    assert probe(library) == ("Ada!", "Bo!")
    assert runs["words.j2"] == 2


def test_the_same_values_share_one_module(runs):
    library = {
        "words.j2": "{% set word = 'hello' %}",
        "probe/email.subject.j2": "{% import 'words.j2' as w with context %}{{ w.word }}",
        "probe/email.txt.j2": "{% import 'words.j2' as w with context %}"
                              "{% import 'words.j2' as again with context %}"
                              "{{ w.word }} {{ again.word }}",
    }
    assert probe(library) == ("hello", "hello hello")
    assert runs["words.j2"] == 1


def test_what_an_included_template_reads_counts_too(runs):
    # words.j2 reads nothing itself: the name comes in through the template it includes.
    library = {
        "inner.j2": "{{ who }}",
        "words.j2": "{% include 'inner.j2' %}",
        "probe/email.subject.j2": "{% set who = 'Ada' %}{% import 'words.j2' as w with context %}"
                                  "{{ w }}",
        "probe/email.txt.j2": "{% set who = 'Bo' %}{% import 'words.j2' as w with context %}"
                              "{{ w }}",
    }
    assert probe(library) == ("Ada", "Bo")


def test_a_module_holding_a_namespace_is_made_for_every_import(runs):
    library = {
        "count.j2": "{% set ns = namespace(n=0) %}"
                    "{% macro bump() %}{% set ns.n = ns.n + 1 %}{{ ns.n }}{% endmacro %}",
        "probe/email.subject.j2": "{% import 'count.j2' as c with context %}{{ c.bump() }}",
        "probe/email.txt.j2": "{% import 'count.j2' as c with context %}{{ c.bump() }}",
    }
    assert probe(library) == ("1", "1")
    assert runs["count.j2"] == 2


def test_a_module_that_includes_a_name_from_data_is_made_for_every_import(runs):
    library = {
        "a.j2": "A", "b.j2": "B",
        "words.j2": "{% include which %}",
        "probe/email.subject.j2": "{% set which = 'a.j2' %}"
                                  "{% import 'words.j2' as w with context %}{{ w }}",
        "probe/email.txt.j2": "{% import 'words.j2' as w with context %}"
                              "{% import 'words.j2' as again with context %}{{ w }}{{ again }}",
    }
    renderer = TemplateRenderer(library=library)
    message = renderer.render("probe", "email", {"locale": "en", "stage": "probe",
                                                  "which": "b.j2"})
    assert (message.subject, message.text) == ("A", "BB")
    assert runs["words.j2"] == 3


def test_a_joiner_is_not_shared_between_imports(runs):
    library = {
        "list.j2": "{% set sep = joiner(', ') %}"
                   "{% macro item(x) %}{{ sep() }}{{ x }}{% endmacro %}",
        "probe/email.subject.j2": "{% import 'list.j2' as l with context %}"
                                  "{{ l.item('a') }}{{ l.item('b') }}",
        "probe/email.txt.j2": "{% import 'list.j2' as l with context %}{{ l.item('c') }}",
    }
    assert probe(library) == ("a, b", "c")
    assert runs["list.j2"] == 2


def test_outside_a_message_jinja_makes_every_module(runs):
    renderer = TemplateRenderer(library={"words.j2": "{% set word = 'x' %}",
                                         "page.j2": "{% import 'words.j2' as a with context %}"
                                                    "{% import 'words.j2' as b with context %}"
                                                    "{{ a.word }}{{ b.word }}"})
    assert renderer.text_env.get_template("page.j2").render() == "xx"
    assert runs["words.j2"] == 2


def cyclic_garbage(work) -> list:
    """The objects the garbage collector finds unreachable after ``work()`` (kept, not
    freed, so that they can be named)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        work()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


@pytest.mark.parametrize("stage", ["approved", "refunded", "received"])
@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_rendered_message_leaves_nothing_for_the_garbage_collector(stage, channel):
    renderer = TemplateRenderer()
    context = sample_context(Settings(), stage, channel)
    first = renderer.render(stage, channel, context)  # compiles and caches the templates

    def render_again() -> None:
        for _ in range(5):
            assert renderer.render(stage, channel, context) == first

    # Jinja's macros close over their context, which holds them: without the message's
    # contexts emptied, each email left about 120 objects in such cycles.
    assert sorted({type(item).__name__ for item in cyclic_garbage(render_again)}) == []


def test_a_module_jinja_keeps_across_messages_still_works_in_the_next_one():
    # An import without context is made once and kept by Jinja; its context must not be
    # emptied with a message's.
    library = {
        "words.j2": "{% macro inner() %}in{% endmacro %}{% macro outer() %}<{{ inner() }}>"
                    "{% endmacro %}{% set tail = 'end' %}",
        "probe/email.subject.j2": "{% import 'words.j2' as w %}{{ w.outer() }} {{ w.tail }}",
        "probe/email.txt.j2": "{% import 'words.j2' as w %}{{ w.outer() }}{{ stage }}",
    }
    renderer = TemplateRenderer(library=library)
    for _ in range(3):
        message = renderer.render("probe", "email", {"locale": "en", "stage": "probe"})
        assert (message.subject, message.text) == ("<in> end", "<in>probe")
