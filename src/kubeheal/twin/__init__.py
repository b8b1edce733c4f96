"""The cluster twin: a Kubernetes-API-compatible simulated cluster.

Stands beside the operator stack: no package of the stack imports it (only the CLI
entry point starts it). The operator talks to it over HTTP like to any API server.
"""
