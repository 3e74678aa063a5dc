"""The domain: plain decisions about returns and their messages, no storage and no HTTP."""
