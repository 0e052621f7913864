"""The runs kernel: run instances and their lifecycle, the run desk (the group-commit writer of the
run hot path), dispatch and inbox delivery, robots' reports (heartbeat, logs, finish, video), log
ingest and the lifecycle sweep. Every center and the hub use it; it imports the robots and packages
kernels and ``common``, never a center or the hub.
"""
