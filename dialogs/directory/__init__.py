"""The directory: members, areas, organisations, roles and subject-matter experts."""
