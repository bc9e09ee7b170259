"""The simulated Send AI pipeline: the worker loop, extraction, deliveries of notifications.

The rule of this folder: each job is a service call with a unit of work of its own instead of a
request's; it imports `services/`, `store/` and `domain/`, never Flask.
"""
