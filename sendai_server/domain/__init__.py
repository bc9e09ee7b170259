"""The domain: what a task, an upload and a notification are, and the rules between their states.

The rule of this folder: no I/O and no SQLAlchemy. Nothing here opens a connection, a file or a
socket, reads the environment or imports Flask; it imports only the standard library,
`transitions` and itself. Every other layer may import it; it imports none of them.

- `lifecycle`: `TaskStatus`, the transition table and the one shared `Machine`.
- `statuses`: upload and notification statuses, and how an upload's follows its tasks'.
- `notification_events`: the registry of events, what fires them and at what level.
- `job_kinds`: the names of the worker's jobs. `errors`: the domain errors the web edge maps to
  HTTP. `ids`: prefixed ids. `file_types`: what an upload's bytes are, by sniffing.
- `emails`: an email upload split into its documents (the standard library's parser, on bytes
  already read). `storable_text`: the one rule for text a database can keep (no NUL).
"""
