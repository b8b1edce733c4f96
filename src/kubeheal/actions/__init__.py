"""Actions: the only code that writes to the cluster. Idempotent and verified."""
