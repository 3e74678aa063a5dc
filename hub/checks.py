"""``returnhub check``: everything start-up would validate, without starting anything."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.assembly import validate_connectors
from hub.config import ConfigError
from hub.plugins import collect_connectors, get_plugin_manager
from hub.rules import RuleEngine, RuleError
from hub.security import PiiCipher
from hub.templates import TemplateRenderer

if TYPE_CHECKING:
    from hub.assembly import ConnectorSpec
    from hub.config import Settings

#: Files each channel needs in a template folder.
CHANNEL_FILES = {"email": ("email.subject.j2", "email.txt.j2"), "sms": ("sms.txt.j2",),
                 "portal": ("portal.txt.j2",)}


def check_config(settings: Settings) -> dict[str, ConnectorSpec]:
    """Validate plugins, connectors, keys and templates; raise ConfigError with every problem."""
    problems: list[str] = []
    pm = get_plugin_manager(disabled=settings.plugins.disabled)
    specs: dict[str, ConnectorSpec] = {}
    try:
        specs = validate_connectors(settings, collect_connectors(pm))
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        RuleEngine(settings.rules)
    except RuleError as exc:
        problems.extend(exc.problems)
    if settings.security.pii_keys:
        try:
            PiiCipher([k.get_secret_value() for k in settings.security.pii_keys], "check")
        except ValueError as exc:
            problems.append(str(exc))
    renderer = TemplateRenderer(settings.notifications.templates_dir, pm)
    for stage, stage_settings in settings.notifications.stages.items():
        template = stage_settings.template or stage
        for channel in stage_settings.channels:
            for filename in CHANNEL_FILES.get(channel, (f"{channel}.txt.j2",)):
                if not renderer.has(f"{template}/{filename}"):
                    problems.append(f"notifications.stages.{stage}: template file "
                                    f"{template}/{filename} not found")
    if problems:
        raise ConfigError(problems)
    return specs
