"""Operations center services: the node's status overview (the big screen comes with the portal)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from common.db import db
from node.schedule.models import Robot, RunInstance


@dataclass
class StatusOverview:
    robots_online: int
    robots_total: int
    robots: list[Robot]
    recent_runs: list[RunInstance]


def status_overview(robots_limit: int = 50, runs_limit: int = 20) -> StatusOverview:
    """Executors online, the first executors (online first), and the newest runs."""
    online = db.session.scalar(select(func.count()).select_from(Robot).where(Robot.online.is_(True))) or 0
    total = db.session.scalar(select(func.count()).select_from(Robot)) or 0
    robots = db.session.scalars(
        select(Robot).order_by(Robot.online.desc(), Robot.id).limit(robots_limit)
    ).all()
    recent = db.session.scalars(
        select(RunInstance).order_by(RunInstance.created_at.desc()).limit(runs_limit)
    ).all()
    return StatusOverview(online, total, list(robots), list(recent))
