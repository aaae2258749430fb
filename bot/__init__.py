"""The composition root and the platform edges (Teams, Slack, console)."""
