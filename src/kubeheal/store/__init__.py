"""The ledger: SQLite by default, PostgreSQL for HA. The only database I/O."""
