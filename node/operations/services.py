"""Operations center services: the node's status overview (the big screen comes with the portal)."""

from __future__ import annotations

from dataclasses import dataclass

from node.robots.management import count_robots, first_robots
from node.runs.services import recent_runs


@dataclass
class StatusOverview:
    robots_online: int
    robots_total: int
    robots: list
    recent_runs: list


def status_overview(robots_limit: int = 50, runs_limit: int = 20) -> StatusOverview:
    """Executors online, the first executors (online first), and the newest runs."""
    online, total = count_robots()
    return StatusOverview(online, total, first_robots(robots_limit), recent_runs(runs_limit))
