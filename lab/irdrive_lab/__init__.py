"""The lab: a local simulated platform (Kubernetes API, AWS via moto, PostgreSQL, hosts)."""
