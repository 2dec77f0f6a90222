"""Scenarios: a timeline of sends, faults and restarts, played against a real engine and
judged against the truth computed from its inputs alone."""
