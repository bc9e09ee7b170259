"""Use cases, free of Flask.

The rule of this folder: each service takes the unit of work (`store/uow.py`) first, reads and
writes through it, raises domain errors (`domain/errors.py`), and never begins, commits or rolls
back. It imports `store/` and `domain/` only. Here too: the public objects (`objects`), which the
API and the notifications' outbox both dump, and the fault rules (`faults`).
"""
