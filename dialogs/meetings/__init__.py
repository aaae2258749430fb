"""Forum meetings: scheduling, announcements, RSVPs, reminders, attendance, cadence."""
