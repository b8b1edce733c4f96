"""Shared data types used by every layer."""
