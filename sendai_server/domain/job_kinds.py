"""The kinds of job (the `job` table's `kind`, docs/pipeline.md): one name each, for whoever
enqueues a job (the lifecycle's `then`, uploads, the outbox) and whoever handles it (pipeline/)."""

from __future__ import annotations

EXTRACT = "extract"  # read a task's file, move the task by its project's automation
AUTO_COMPLETE = "auto_complete"  # finish a task a person completed
DELIVER = "deliver"  # send a notification to its connector (pipeline/deliveries.py)

JOB_KINDS = (EXTRACT, AUTO_COMPLETE, DELIVER)
