"""Shared helpers every room uses: settings (`config`), who may see and refresh (`access`), the alert
rules declared once (`rules`), page routes (`pages`), fiscal periods, time, retries, the secret scrubber.
The rules live here, not with the alerting that evaluates them, because the settings check rule
names against them."""
