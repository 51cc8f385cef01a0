"""The lab's PostgreSQL: a real cluster with the platform schema, and slow-query load."""
