"""Message content: the template sandbox and its limits, language sets, CSS inlining, SMS
segments, QR codes, brand merging, the template context, sample data and previews.

:class:`hub.templates.TemplateRenderer` puts these together; ``docs/templates.md`` is the
operator's guide.
"""
