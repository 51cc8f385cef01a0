"""The lab's hosts: sshd per host in its own network namespace, with realistic data."""
