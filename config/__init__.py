"""Settings and framework definitions. Imports nothing of partnerbot's own."""
