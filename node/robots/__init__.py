"""The robots kernel: suppliers and the engines they run, robots (executors) and their registration,
approval and presence, licenses, and each robot's durable command inbox with the bus that wakes it.

Every center, the runs kernel and the hub use it; it imports nothing above ``common``.
"""
