"""Template preview: a stage's message rendered for a sample return (``hub.content.preview``)."""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

from hub.templates import TemplateRenderError
from hub.web.admin.errors import ApiError
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import FreeForm, PreviewQuery
from hub.web.admin.values import plain

router = ApiRouter(tag="templates")

#: The module that renders previews (written alongside the content tooling).
PREVIEW_MODULE = "hub.content.preview"


def preview_module() -> ModuleType | None:
    """The preview module, or None when this hub has none."""
    try:
        return importlib.import_module(PREVIEW_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name in ("hub.content", PREVIEW_MODULE):
            return None
        raise


@router.route("GET", "/api/templates/preview", summary="Render a stage's template for a "
              "channel and locale", scope="read", query=PreviewQuery, response=FreeForm,
              errors={501: "This hub has no template preview."})
async def preview_template(call: Call) -> FreeForm:
    """What a customer would receive for ``stage`` on ``channel`` in ``locale``."""
    module = preview_module()
    if module is None or not hasattr(module, "preview"):
        raise ApiError(501, "not_implemented", "template preview is not available on this hub "
                       f"({PREVIEW_MODULE} is not installed)")
    query: PreviewQuery = call.query
    hub = call.hub
    try:
        result = module.preview(hub.settings, hub.renderer, query.stage, query.channel,
                                query.locale or hub.settings.notifications.default_locale)
        if inspect.isawaitable(result):
            result = await result
    except TemplateRenderError as exc:
        raise ApiError(422, "template_error", str(exc)[:300], field="stage") from None
    except (LookupError, ValueError) as exc:
        raise ApiError(422, "invalid_field", str(exc)[:300]) from None
    return FreeForm(plain(result))
