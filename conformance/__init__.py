"""Conformance checker: does a node speak the executor protocol (protocol.md) as the contract says?

Run it against any node with ``rpa conformance --node URL``; see ``runner.run_conformance``.
"""

from conformance.runner import Report, Result, run_conformance

__all__ = ["Report", "Result", "run_conformance"]
