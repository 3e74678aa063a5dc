"""Tests of the provider sinks (SendGrid, Mailchimp Transactional, Twilio, SMTP): the real SDKs
against the fake provider servers in hub/testing, over TCP."""
