"""Use cases, free of Flask: each takes the unit of work (uow.py) first, reads and writes
through it, raises domain errors (errors.py), and never begins, commits or rolls back."""
