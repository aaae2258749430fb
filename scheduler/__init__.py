"""APScheduler wiring and the jobs that wake the delivery engine (issue 3 fills this in)."""
