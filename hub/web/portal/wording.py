"""What each stage of a return means to a customer, in plain words (no internal states)."""

from __future__ import annotations

#: state → (title, explanation) shown on the portal timeline.
STAGE_WORDING: dict[str, tuple[str, str]] = {
    "requested": ("Return requested", "We have your return request."),
    "pending_review": ("Under review", "We're checking your request and will get back to you "
                       "shortly."),
    "approved": ("Return approved", "Your return is approved. Pack your items for sending."),
    "declined": ("Return declined", "We couldn't accept this return. Check your email for the "
                 "details, or contact us."),
    "label_created": ("Label ready", "Your return label is ready. Attach it to your parcel."),
    "in_transit": ("On its way", "Your parcel is on its way back to us."),
    "delivered_to_warehouse": ("Arrived at our warehouse", "Your parcel has arrived at our "
                               "warehouse."),
    "received": ("Received", "We've received your return and will check it soon."),
    "inspected": ("Checked", "We've checked your items."),
    "restocked": ("Checked", "We've checked your items."),
    "refunded": ("Refunded", "Your refund is on its way."),
    "exchange_shipped": ("Exchange sent", "Your replacement is on its way to you."),
    "closed": ("Completed", "Your return is complete."),
    "cancelled": ("Cancelled", "This return was cancelled."),
    "expired": ("Expired", "This return request has expired."),
}

#: A carrier exception, worded for the customer.
EXCEPTION_WORDING = ("Delivery update", "The carrier reported a problem with your parcel. "
                     "We're looking into it; no action is needed from you yet.")


def stage_wording(state: str | None) -> tuple[str, str]:
    """The title and explanation of ``state`` (a neutral text for unknown states)."""
    return STAGE_WORDING.get(state or "", ("Update", "There's an update to your return."))
