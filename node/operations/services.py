"""Operations center services: the node's status overview (the big screen comes with the portal)."""

from __future__ import annotations

from dataclasses import dataclass

from node.schedule import robots


@dataclass
class StatusOverview:
    robots_online: int
    robots_total: int
    robots: list
    recent_runs: list


def status_overview(robots_limit: int = 50, runs_limit: int = 20) -> StatusOverview:
    """Executors online, the first executors (online first), and the newest runs."""
    online, total, robots_, recent = robots.overview(robots_limit, runs_limit)
    return StatusOverview(online, total, robots_, recent)
