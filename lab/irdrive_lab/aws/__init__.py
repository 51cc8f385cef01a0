"""The lab's AWS: moto behind the request journal, seeded with the platform's resources."""
