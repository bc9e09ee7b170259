"""The store: where state lives, and the one owner of transactions.

The rule of this folder: it knows SQLAlchemy, the database and the file store, and nothing of
HTTP or of use cases. It imports only `domain/` and `config`. Only `uow` begins, commits and
rolls back; everything above receives a unit of work and never ends it.

- `db`: engines (SQLite's pragmas and write lock, PostgreSQL's pool). `uow`: the unit of work.
- `models/`: the tables (Send AI's objects, and this server's own controls apart). `statements`:
  compiled statements of the hot path.
- `jobs`: the job queue the services write to and the worker claims from.
- `migrate`: Alembic, run from the package. `storage`: file storage (a folder or S3), by hash.
- `statement_barrier`: a test seam (SENDAI_TEST_STATEMENT_BARRIER, never in production) that
  holds one statement so a test can cut its connection.
"""
