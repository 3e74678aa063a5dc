"""What the fake SendGrid checks in a ``POST /v3/mail/send`` body (the rules listed in
shared/reference/provider-wire-formats.md §1) and how it answers a refusal: SendGrid's
``{"errors": [{message, field, help}, ...]}``."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import orjson
from aiohttp import web

#: Messages SendGrid uses for the failures the fake can inject.
STATUS_MESSAGES = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "The from address does not match a verified Sender Identity.",
    413: "Payload Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
MAX_RECIPIENTS = 1000


def error_entry(message: str, field: str | None = None, help_: str | None = None
                ) -> dict[str, Any]:
    """One entry of SendGrid's ``errors`` array."""
    return {"message": message, "field": field, "help": help_}


def errors_response(status: int, errors: list[dict[str, Any]],
                    headers: dict[str, str] | None = None) -> web.Response:
    """A SendGrid error answer: ``{"errors": [{message, field, help}, ...]}``."""
    return web.Response(status=status, body=orjson.dumps({"errors": errors}),
                        content_type="application/json", headers=headers)


def new_message_id() -> str:
    """A 22-character URL-safe id shaped like SendGrid's ``X-Message-Id``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


def validate_mail(body: Any, verified_senders: set[str] | None = None
                  ) -> tuple[int, list[dict[str, Any]]]:
    """Check a v3 mail/send body the way SendGrid does; returns (status, errors)."""
    if not isinstance(body, dict):
        return 400, [error_entry("Bad Request")]
    errors: list[dict[str, Any]] = []
    personalizations = body.get("personalizations")
    seen: set[str] = set()
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(error_entry("The personalizations field is required and must have at least "
                             "one personalization.", "personalizations"))
        personalizations = []
    elif len(personalizations) > MAX_RECIPIENTS:
        errors.append(error_entry("The personalizations field may not contain more than 1000 "
                             "personalizations.", "personalizations"))
    for index, item in enumerate(personalizations):
        path = f"personalizations.{index}"
        if not isinstance(item, dict) or not isinstance(item.get("to"), list) or not item["to"]:
            errors.append(error_entry("The to array is required for all personalization objects, "
                                 "and must have at least one email object with a valid email "
                                 "address.", f"{path}.to"))
            continue
        for kind in ("to", "cc", "bcc"):
            for position, address in enumerate(item.get(kind) or []):
                email = address.get("email") if isinstance(address, dict) else None
                if not isinstance(email, str) or "@" not in email:
                    errors.append(error_entry("Does not contain a valid address.",
                                         f"{path}.{kind}.{position}.email"))
                    continue
                if email.lower() in seen:
                    errors.append(error_entry("Each email address in the personalization block "
                                         "should be unique between to, cc, and bcc.",
                                         f"{path}.{kind}.{position}.email"))
                seen.add(email.lower())
                name = address.get("name")
                if isinstance(name, str) and (";" in name or "," in name):
                    errors.append(error_entry("The name may not contain ; or ,",
                                         f"{path}.{kind}.{position}.name"))
        for mapping in ("custom_args", "headers", "substitutions"):
            if mapping in item:
                errors.extend(_string_mapping_errors(item[mapping], f"{path}.{mapping}"))
    if len(seen) > MAX_RECIPIENTS:
        errors.append(error_entry("The total number of recipients must be no more than 1000.",
                             "personalizations"))
    sender = body.get("from")
    sender_email = sender.get("email") if isinstance(sender, dict) else None
    if not isinstance(sender_email, str) or "@" not in sender_email:
        errors.append(error_entry("The from object must be provided for every email send. It is an "
                             "object that requires the email parameter, but may also contain "
                             "a name parameter.", "from.email"))
    elif not sender_email.isascii():
        errors.append(error_entry("Unicode is not supported in the from field.", "from.email"))
    has_template = bool(body.get("template_id"))
    if not has_template and not body.get("subject") and not (
            personalizations and all(isinstance(p, dict) and p.get("subject")
                                     for p in personalizations)):
        errors.append(error_entry("The subject is required. You can get around this requirement if "
                             "you use a template with a subject defined or if every "
                             "personalization has a subject defined.", "subject"))
    errors.extend(_content_errors(body.get("content"), has_template))
    for mapping in ("custom_args", "headers"):
        if mapping in body:
            errors.extend(_string_mapping_errors(body[mapping], mapping))
    if "reply_to" in body and "reply_to_list" in body:
        errors.append(error_entry("The reply_to and reply_to_list fields are mutually exclusive.",
                             "reply_to"))
    categories = body.get("categories")
    if categories is not None and (not isinstance(categories, list) or len(categories) > 10
                                   or not all(isinstance(c, str) for c in categories)):
        errors.append(error_entry("The categories field must be an array of at most 10 strings.",
                             "categories"))
    if errors:
        return 400, errors
    if verified_senders is not None and sender_email.lower() not in verified_senders:
        return 403, [error_entry(STATUS_MESSAGES[403], "from",
                            "https://sendgrid.com/docs/for-developers/sending-email/"
                            "sender-identity/")]
    return 202, []


def _content_errors(content: Any, has_template: bool) -> list[dict[str, Any]]:
    if content is None:
        return [] if has_template else [error_entry(
            "Unless a valid template_id is provided, the content parameter is required. There "
            "must be at least one defined content block. We typically suggest both text/plain "
            "and text/html blocks are included, but only one block is required.", "content")]
    if not isinstance(content, list) or not content:
        return [error_entry("The content parameter must be an array with at least one item.",
                       "content")]
    errors = []
    types = []
    for index, block in enumerate(content):
        value = block.get("value") if isinstance(block, dict) else None
        if not isinstance(value, str) or not value:
            errors.append(error_entry("The content value must be a string at least one character "
                                 "in length.", f"content.{index}.value"))
        types.append(block.get("type") if isinstance(block, dict) else None)
    if "text/plain" in types and "text/html" in types and (
            types.index("text/plain") > types.index("text/html")):
        errors.append(error_entry("If present, text/plain content must be first, followed by "
                             "text/html, followed by any other content.", "content"))
    return errors


def _string_mapping_errors(value: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return [error_entry(f"Invalid type. Expected: object, given: {type(value).__name__}.",
                            field)]
    if not all(isinstance(v, str) for v in value.values()):
        # What SendGrid really answers for a non-string value: no field, no help.
        return [error_entry("Bad Request")]
    if field.endswith("custom_args") and len(orjson.dumps(value)) >= 10_000:
        return [error_entry("The total size of custom arguments must be less than 10000 bytes.",
                       field)]
    return []
