"""Checking a pooled connection at checkout without a round trip every time.

`pool_pre_ping` sends `SELECT 1` on every checkout: a round trip and its CPU for each message a
worker handles and each batch its relay publishes. An idle connection's socket has nothing to
read, though. When the server ends the session (a restart, `pg_terminate_backend`, a proxy cutting
the connection) it sends its FATAL message and closes, and the socket turns readable. So the
ping is sent only when psycopg already knows the connection is broken or the socket has
something to say; a connection found dead is replaced at checkout, as pre-ping does, and the
caller never sees the stale one.

What a socket cannot show (a peer gone silent without closing) a ping could not find either: it
would wait just as the first statement does.
"""

import select
from typing import Any

from sqlalchemy import Engine, event, exc

__all__ = ["ping_when_disturbed"]


def _has_input(fd: int) -> bool:
    """True when `fd` can be read without blocking (data, an error or end of file)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def ping_when_disturbed(engine: Engine) -> None:
    """Check `engine`'s connections at checkout: ping only those whose socket is readable.

    Use instead of `pool_pre_ping` (not with it: that pings every checkout anyway)."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def check(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        if dbapi_connection.closed or dbapi_connection.broken:
            raise exc.DisconnectionError("connection closed or broken")
        if not _has_input(dbapi_connection.fileno()):
            return  # nothing happened on it while it sat in the pool
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_connection, None):
                raise exc.DisconnectionError("the server ended the session") from err
            raise
