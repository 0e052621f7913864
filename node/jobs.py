"""The node's jobs: its periodic jobs (started by ``start_background``) and its queued jobs.

Every serving process runs the declared list; ``rpa worker`` runs queued jobs (production mode).
"""

from __future__ import annotations

from common.jobs import PeriodicJob, job
from config.settings import NodeConfig
from node.robots.runtime import robots_runtime
from node.runs.sweeper import sweep_once
from node.runtime import runtime


def flush_presence() -> int:
    """Write the last-seen times this process heard since the last flush (one statement)."""
    return robots_runtime().presence.flush()


def sweep_tick() -> dict[str, int]:
    """One lifecycle sweep of a serving process. Robots are declared lost only once this process
    has served for one offline period: while the node was down (a restart, an upgrade), executors
    could not reach it, and their silence says nothing about them. Those that come back within the
    period keep their runs; the others' runs are interrupted then."""
    rt = runtime()
    return sweep_once(lost_robots=rt.ticker.serving_for() >= rt.config.offline_after)


def periodic_jobs(cfg: NodeConfig) -> list[PeriodicJob]:
    """The node's periodic jobs, every one in every serving process (each works on that process's
    memory or on rows any number of processes may sweep at once)."""
    return [
        PeriodicJob("presence.flush", flush_presence, cfg.last_seen_flush_interval),
        PeriodicJob("runs.sweep", sweep_tick, cfg.sweep_interval),
    ]


@job("periodic")
def sweep() -> dict[str, int]:
    """One lifecycle sweep (timeouts, queue, lost mail) from a worker; safe anywhere, any number of
    times. Lost robots are left to the serving processes: only a process that executors can reach
    knows whether their silence means anything."""
    return sweep_once(lost_robots=False)
