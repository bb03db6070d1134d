"""Data access: queries and writes, no business rules."""
