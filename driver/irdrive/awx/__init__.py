"""AWX: job templates with surveys, generated from the runbook catalog (``irdrive awx export``)."""

from __future__ import annotations
