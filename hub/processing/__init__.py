"""Processing of inbox events: applying them to returns and planning notifications."""
