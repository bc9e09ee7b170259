"""The simulated Send AI pipeline: jobs, the worker, extraction."""
