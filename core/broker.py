"""Redis as the rest of the code reaches it (the send flags, the health page): the same server Celery uses.

REDIS_URL names one server (`redis://…`) or sentinels in kombu's form (`sentinel://h1:26379/0;sentinel://h2:26379`,
with REDIS_SENTINEL_MASTER). For sentinels, redis-py's own `Sentinel` asks them for the current master on every
new connection, so a client follows a failover as Celery's transport does; the URL is split with kombu's parser,
so both read it alike.
"""

from __future__ import annotations

import functools

import redis
from django.conf import settings
from kombu.utils.url import url_to_parts
from redis.sentinel import Sentinel

SENTINEL_PORT = 26379


def redis_client(*, timeout: float) -> redis.Redis:
    """A client of the broker's Redis whose commands wait at most `timeout` seconds (one per URL and timeout)."""
    master = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("master_name")
    return _client(settings.CELERY_BROKER_URL, master, timeout)


@functools.cache
def _client(url: str, master: str | None, timeout: float) -> redis.Redis:
    waits = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if not url.startswith("sentinel://"):
        return redis.Redis.from_url(url, **waits)
    parts = [url_to_parts(part.strip()) for part in url.split(";")]
    sentinels = Sentinel([(p.hostname, p.port or SENTINEL_PORT) for p in parts], **waits)
    first = parts[0]  # as kombu: the database and the master's credentials come from the first address
    return sentinels.master_for(
        master, db=int(first.path or 0), username=first.username, password=first.password, **waits
    )
