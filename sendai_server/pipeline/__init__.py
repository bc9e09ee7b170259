"""The simulated Send AI pipeline: jobs, the worker loop, extraction, deliveries."""
