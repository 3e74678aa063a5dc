"""The plugin API version check: a plugin declares the contract versions it works with.

A plugin's entry-point module sets ``RETURNHUB_API``, a version range in the usual Python
syntax (PEP 440 specifiers, e.g. ``">=1.0,<2"`` or ``"~=1.0"``). At load the hub checks that
:data:`hub.contract.PLUGIN_API_VERSION` is inside it; an installed plugin without a range, or
with one that excludes the hub's version, is refused at start-up by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from hub.contract import PLUGIN_API_VERSION

if TYPE_CHECKING:
    from importlib.metadata import Distribution

#: The module attribute a plugin declares its supported range in.
API_ATTRIBUTE = "RETURNHUB_API"
#: What a plugin written for this major version declares (shown in messages).
EXAMPLE_RANGE = f">={Version(PLUGIN_API_VERSION).major}.0,<{Version(PLUGIN_API_VERSION).major + 1}"


def api_problem(name: str, plugin: object, dist: Distribution | None, *,
                required: bool) -> str | None:
    """Why plugin ``name`` cannot load against this hub's API version, or None.

    ``required``: whether a plugin without a declared range is refused (installed plugins are;
    plugin objects a test registers directly are checked only when they declare one).
    """
    who = f"plugin {name!r}"
    if dist is not None:
        who += f" ({dist.metadata['Name']} {dist.version})"
    declared = getattr(plugin, API_ATTRIBUTE, None)
    if declared is None:
        if not required:
            return None
        return (f"{who} declares no plugin API range; add {API_ATTRIBUTE} = "
                f"{EXAMPLE_RANGE!r} to its entry-point module")
    if not isinstance(declared, str) or not declared.strip():
        return f"{who}: {API_ATTRIBUTE} must be a string such as {EXAMPLE_RANGE!r}"
    try:
        supported = SpecifierSet(declared)
    except InvalidSpecifier:
        return (f"{who}: {API_ATTRIBUTE} = {declared!r} is not a version range "
                f"(write e.g. {EXAMPLE_RANGE!r})")
    if not supported.contains(PLUGIN_API_VERSION, prereleases=True):
        return (f"{who} supports plugin API {declared!r} but this hub provides "
                f"{PLUGIN_API_VERSION}; install a release of the plugin made for "
                f"{EXAMPLE_RANGE!r} or disable it in plugins.disabled")
    return None
