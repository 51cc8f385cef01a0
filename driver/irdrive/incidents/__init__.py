"""Incident records: the incident playbook's other half (severity, statuses, people, timeline,
communications, post-mortem), kept in the history store beside the drills.

``model`` is plain data and imports no database; ``store`` keeps the records (SQLAlchemy).
"""
