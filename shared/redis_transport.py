"""The Redis broker transport: kombu's, with one Redis client per channel instead of one per command.

kombu's Redis channel builds a new ``redis.Redis`` for each command it sends outside a worker's
event loop, so for every message published. Building one (its reply-callback table copied key by
key) cost more CPU than the LPUSH it then sent: 3.7 % of the API's CPU under the ingest load
against 2.9 % for the LPUSH (``python -m bench.profile --gil``), and the same share of every send
the workers make. A client holds no connection of its own (it borrows one from the channel's pool
per command, thread-safely), so one serves every command of its channel; it is built again
whenever the channel's pool is (after a fork, or once kombu dropped the pool on a lost connection).

``shared.queue.make_celery`` picks this transport only for a broker given as one plain ``redis://``
URL (``serves``). Everything else keeps kombu's own: a Sentinel URL; a ``rediss://`` URL, whose TLS
defaults kombu sets only for its own transport name; a failover list, which kombu re-parses into its
own transport when it switches hosts anyway.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, sending its commands through one client built on its pool."""

    _command_client = None

    def _create_client(self, asynchronous: bool = False):
        if asynchronous:  # the worker's event-loop client: kombu keeps that one already
            return super()._create_client(asynchronous=True)
        client = self._command_client
        if client is None or client.connection_pool is not self.pool:
            client = self._command_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel


#: For Celery's ``broker_transport`` setting.
TRANSPORT = f"{__name__}:Transport"


def serves(*urls: object) -> bool:
    """True when every broker URL given (None: not set) is one plain ``redis://`` URL."""
    return all(url is None or (isinstance(url, str) and url.startswith("redis://") and ";" not in url) for url in urls)
