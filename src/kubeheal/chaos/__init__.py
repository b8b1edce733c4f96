"""Chaos experiments that measure self-healing."""
