"""Delivery: planning notifications, dispatching them through providers, recording receipts."""
