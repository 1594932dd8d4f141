"""Gateway heartbeats: which gateway processes serve, and how far each has read the change feed."""

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from keyward.db.models.base import ID, Base


class GatewayHeartbeat(Base):
    """One gateway process, as it last said: where it serves, and the change-feed position up
    to which its cache and catalog are current (`applied_seq`).

    Written by the process itself at start, whenever its position advances and every
    `heartbeat_interval` seconds; deleted when it stops cleanly. A row silent for ten of its
    intervals belongs to a process that is gone or stuck, and is no longer waited for.
    Installation-wide: no workspace, and nothing of any tenant in it.
    """

    __tablename__ = "gateway_heartbeats"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    address: Mapped[str] = mapped_column(String(300))
    version: Mapped[str] = mapped_column(String(40))
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    applied_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    heartbeat_interval: Mapped[float] = mapped_column(Float)
    last_beat_at: Mapped[datetime] = mapped_column(index=True)
