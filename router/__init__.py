"""refdesk domain: conversations, claims, delivery; no framework imports."""
