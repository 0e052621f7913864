"""Files kernel data: users' personal folders (个人文件夹)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from common.db import UTCDateTime, db
from common.timeutil import utcnow


class PersonalFile(db.Model):
    """A file placed in a user's personal folder, e.g. by a robot for the run's user."""

    __tablename__ = "personal_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    file_id: Mapped[str] = mapped_column(ForeignKey("stored_file.id"))
    file_name: Mapped[str] = mapped_column(String(255))
    run_instance_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    added_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
