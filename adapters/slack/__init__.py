"""Slack: the staff desk as threads in a channel (slack-bolt, slack_sdk)."""
