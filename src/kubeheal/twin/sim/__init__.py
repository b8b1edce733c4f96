"""The twin's simulated control plane, kubelet and workloads.

Controllers are plain objects with a `step(now)` method that read and write the cluster only
through the `ObjectStore`, like real controllers talk only to the API server. Non-API state
(what a container uses, what the apps served) lives in `RuntimeState`.
"""
