"""The aiohttp application: webhook ingress, health, and (later) the admin and portal."""
