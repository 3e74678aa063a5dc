"""``returnhub check``: everything start-up would validate, without starting anything."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from hub.assembly import validate_connectors
from hub.config import ConfigError
from hub.content.verify import check_templates
from hub.outbound_urls import refused_alert_webhooks, refused_urls
from hub.plugins import (
    INTERNAL_PLUGINS,
    collect_connectors,
    entry_point_owners,
    get_plugin_manager,
)
from hub.rules import RuleEngine, RuleError
from hub.security import PiiCipher
from hub.templates import TemplateRenderer, missing_channel_files

if TYPE_CHECKING:
    from collections.abc import Callable

    import pluggy

    from hub.assembly import ConnectorSpec
    from hub.config import Settings



def _print_warning(line: str) -> None:
    print(f"returnhub: warning: {line}", file=sys.stderr)


def check_config(settings: Settings,
                 warn: Callable[[str], None] | None = _print_warning,
                 pm: pluggy.PluginManager | None = None) -> dict[str, ConnectorSpec]:
    """Validate plugins, connectors, rules, keys and templates; raise ConfigError with every
    problem.

    A connector URL the outbound guard will refuse (:mod:`hub.outbound_urls`) is a problem,
    named by connector and field.

    Templates are also rendered with sample data (:mod:`hub.content.verify`): a render error
    or an SMS over ``notifications.sms_max_segments`` is a problem; UCS-2 SMS, SMS at the
    limit and malformed or oversized HTML are passed to ``warn`` (default: printed to
    stderr), which does not fail the check. ``pm`` replaces the configured plugins (tests)."""
    problems: list[str] = []
    pm = pm or get_plugin_manager(disabled=settings.plugins.disabled)
    specs: dict[str, ConnectorSpec] = {}
    try:
        specs = validate_connectors(settings, collect_connectors(pm))
    except ConfigError as exc:
        problems.extend(exc.problems)
    problems.extend(refused_urls(specs, settings.security.outbound_allow, warn))
    problems.extend(refused_alert_webhooks([str(h.url) for h in settings.alerts.webhooks],
                                           settings.security.outbound_allow, warn))
    known = set(entry_point_owners()) | set(INTERNAL_PLUGINS)
    for name in settings.plugins.disabled:
        if name not in known and warn is not None:  # a typo leaves the plugin running
            warn(f"plugins.disabled: no plugin is named {name!r} (installed: "
                 f"{', '.join(sorted(known))})")
    try:  # every condition compiled, as serve does: a deploy that passes check starts
        RuleEngine(settings.rules)
    except RuleError as exc:
        problems.extend(exc.problems)
    if settings.security.pii_keys:
        try:
            PiiCipher([k.get_secret_value() for k in settings.security.pii_keys], "check")
        except ValueError as exc:
            problems.append(str(exc))
    renderer = TemplateRenderer(settings.notifications.templates_dir, pm)
    missing = False
    for stage, stage_settings in settings.notifications.stages.items():
        template = stage_settings.template or stage
        for channel in dict.fromkeys([*stage_settings.channels, *stage_settings.fallback]):
            for problem in missing_channel_files(renderer.has, template, channel):
                problems.append(f"notifications.stages.{stage}: {problem}")
                missing = True
    if not missing:  # rendering a missing file would only repeat the problem
        report = check_templates(settings, renderer)
        problems.extend(report.errors)
        if warn is not None:
            for line in report.warnings:
                warn(line)
    if problems:
        raise ConfigError(problems)
    return specs
