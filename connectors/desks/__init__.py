"""desks."""
