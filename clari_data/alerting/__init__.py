"""Alerting: the rules evaluated on the warehouse's data (`alerts`, the banners) and sent after a
refresh (`notify`, Slack and e-mail)."""
