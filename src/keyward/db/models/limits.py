"""Limit leases: how much of each limit's window the gateway processes have taken to count."""

from sqlalchemy import BigInteger, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from keyward.db.models.base import Base


class LimitLease(Base):
    """The requests of one window of one limit that gateway processes have taken, in chunks, to
    admit without asking storage again (`leased`), less what they gave back unused.

    `slot` names the limit and whom it counts: `<scope>:<key or acquisition id>:<period in
    ms>`; `window_number` is the window's start in ms since the epoch divided by the period.
    Only the current and the previous window of a slot matter (the sliding window weighs the
    previous one); older rows are deleted by the next lease of their slot. No workspace and no
    foreign key: the gateway counts by ids alone, and a deleted key's rows are never read again.
    """

    __tablename__ = "limit_leases"
    __table_args__ = (PrimaryKeyConstraint("slot", "window_number"),)

    slot: Mapped[str] = mapped_column(String(160))
    window_number: Mapped[int] = mapped_column(BigInteger)
    leased: Mapped[int]
