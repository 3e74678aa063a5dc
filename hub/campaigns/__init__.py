"""Segments and campaigns: bulk promotional messages through the outbox at a lower priority."""
