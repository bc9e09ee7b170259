"""Use cases, free of Flask: each takes a Session, runs one transaction, raises domain errors."""
