"""The test suite: tests/core (headless), tests/ui (the window), tests/support (helpers)."""
