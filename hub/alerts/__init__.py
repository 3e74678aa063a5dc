"""Alerts for operators: rules evaluated periodically by one worker node at a time, one open
alert per rule and subject, notices (firing, reminder, resolved) to webhooks, email and SMS.
See docs/alerts.md."""
