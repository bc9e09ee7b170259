"""The unit layer: no app, no database, no process; it must run in seconds (`make test-unit`).
A test that needs a fixture of the app belongs in tests/app/."""
