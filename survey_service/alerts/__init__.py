"""Alerts that close the loop: rules, emails, Standard Webhooks and follow-up cases."""
