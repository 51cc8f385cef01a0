"""The simulated platform's HTTP endpoints (health, payments, CDN, streaming, cache)."""
