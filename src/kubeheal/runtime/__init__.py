"""Orchestration: wires sources to the engine and the engine to actions; tasks and shutdown."""
