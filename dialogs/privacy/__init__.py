"""Data protection: a member's copy of their data, erasure, retention, the privacy notice, and
risks to delivery."""
