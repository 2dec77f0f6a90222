"""The window (Qt only): no SQL, no parsing rules."""
