"""The run folder: its names (`names`), manifest (schema-versioned), the capture's writer (atomic,
resumable), the reader (`reader.Run`, `reader.Head`), per-head outputs and the integrity check."""
