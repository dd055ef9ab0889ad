"""One convention for time: timestamps are stored in UTC (`canbao.store.uow.now()`); dates and times shown to
people are China Standard Time (UTC+8, Asia/Shanghai), and the campaign's "today" is the date there.

Pure functions of their arguments, for services and reports alike; only the composition root
(canbao.bootstrap) reads the machine's clock for "today"."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

CAMPAIGN_ZONE = ZoneInfo("Asia/Shanghai")  # China Standard Time (UTC+8): the campaign's calendar and clock


def stored_utc(at: dt.datetime) -> dt.datetime:
    """A stored timestamp as an aware UTC time (SQLite hands it back without its zone)."""
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def local_time(at: dt.datetime) -> dt.datetime:
    """A stored timestamp (UTC; SQLite hands it back without a zone) as people read it: China Standard Time."""
    return stored_utc(at).astimezone(CAMPAIGN_ZONE)


def campaign_date(at: dt.datetime) -> dt.date:
    """The campaign's date at an instant (01:00 in Beijing is already the next day there while UTC is not)."""
    return local_time(at).date()
