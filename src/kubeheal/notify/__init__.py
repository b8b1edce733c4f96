"""Escalation and notifications."""
