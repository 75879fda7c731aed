"""urllib3 connections (and a requests adapter making them) that report to the watchdog.

Design: :mod:`ociclient.deadline` keeps the deadlines and shuts sockets down; these classes
attach each connection, and the socket it opens, to the calling thread's watch entry whenever
they connect or send a request, so the watchdog can find them. They live apart from the
watchdog because they need requests and urllib3, which a caller timing its own sockets does not
import (``ociclient.deadline.WatchedAdapter`` still names this module's adapter).
"""

from __future__ import annotations

import socket
from typing import Any

import requests.adapters
import urllib3.connection
import urllib3.connectionpool

from .deadline import _attach


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        _attach(self)
        sock = super()._new_conn()
        _attach(self, sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _attach(self)
        super().request(*args, **kwargs)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        _attach(self)
        sock = super()._new_conn()
        _attach(self, sock)  # before the TLS handshake, which can be slow on purpose too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _attach(self)
        super().request(*args, **kwargs)


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class WatchedAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections (direct or through a proxy) can be stopped by
    :data:`WATCHDOG`."""

    def init_poolmanager(self, *args: Any, **kw: Any) -> None:
        super().init_poolmanager(*args, **kw)
        self.poolmanager.pool_classes_by_scheme = _POOLS  # type: ignore[attr-defined]

    def proxy_manager_for(self, proxy: str, **kw: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kw)
        manager.pool_classes_by_scheme = _POOLS
        return manager
