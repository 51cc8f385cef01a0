"""The lab's monitoring: Prometheus scrapes the platform's ``/metrics`` and evaluates the alert
rules (``rules.yml``); Alertmanager routes the alerts to the platform's webhook receiver."""
