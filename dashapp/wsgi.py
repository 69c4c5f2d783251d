"""exbert behind a production WSGI server: gunicorn, several worker processes, threads.

`exbert serve` and `exbert demo` run `serve()`; a deployment of its own can run
`gunicorn 'dashapp.wsgi:application()'` with the environment's settings. Each
worker process loads its own copy of the models it serves (docs/benchmarks.md,
serving, has a worker's memory), so the default number of workers follows both
the cores and the memory of the machine.
"""

from __future__ import annotations

import logging
import os

from gunicorn.app.base import BaseApplication

from exbert.config import Settings

log = logging.getLogger(__name__)

# Resident memory of one worker with all-MiniLM-L6-v2 and spaCy loaded, rounded up
# (measured in docs/benchmarks.md, serving); a larger model needs more.
WORKER_MEMORY_GB = 1.0
THREADS = 4  # per worker: requests waiting on the database do not hold a core


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers() -> int:
    """As many workers as cores, as long as the memory holds a model in each."""
    cores = _cores()
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        memory_gb = 2.0
    return max(1, min(cores, int(memory_gb // WORKER_MEMORY_GB)))


def application(settings: Settings | None = None):
    """The WSGI application (the Dash app's Flask server) for these settings.

    The page is rendered once here: Dash learns which script files it may serve
    while it renders the page, and with several workers the browser fetches the
    scripts from a worker that may never have rendered it (a 500, a blank page).
    """
    from dashapp.app import create_app

    server = create_app(settings or Settings.from_env()).server
    server.test_client().get("/")
    return server


def worker_threads(workers: int) -> int:
    """Torch threads for each of `workers` side by side: they split the cores instead of
    fighting over them (benchmarks run the model the same way)."""
    return max(1, _cores() // workers)


def _share_cores(workers: int):
    def post_fork(_server, _worker) -> None:
        import torch

        torch.set_num_threads(worker_threads(workers))

    return post_fork


def _warm(worker) -> None:
    """Load the default model and spaCy before the first request, not during it."""
    try:
        worker.wsgi.extensions["exbert"].warm()
    except Exception as err:  # noqa: BLE001 - a worker that cannot warm still serves
        log.warning("worker %s could not load its default model: %s", worker.pid, err)


class Server(BaseApplication):
    def __init__(self, settings: Settings, options: dict):
        self.settings, self.options = settings, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return application(self.settings)


def serve(settings: Settings, host: str, port: int, workers: int | None = None) -> None:
    """Serve until Ctrl+C (quick stop) or SIGTERM (requests get a few seconds to finish)."""
    workers = workers or default_workers()
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": THREADS,
        "timeout": 120,  # a worker silent this long is replaced (a first model load can be slow)
        "graceful_timeout": 3,
        "keepalive": 5,
        "accesslog": "-",
        # who answered and how long it took: the worker's pid, the time in ms
        "access_log_format": '%(h)s [%(p)s] "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"',
        "errorlog": "-",
        "post_fork": _share_cores(workers),
        "post_worker_init": _warm,
        "control_socket_disable": True,
    }
    Server(settings, options).run()
