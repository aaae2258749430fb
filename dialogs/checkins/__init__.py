"""Evaluation check-ins: cycles of a self-evaluation framework, answered privately in chat,
compiled into reports and action plans."""
