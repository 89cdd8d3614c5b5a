"""`responsd serve`: run the server."""

import argparse
import asyncio
import logging
import os
import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette

from responsd import __version__
from responsd.api.protocol import PROTOCOL, GuardedHttpToolsProtocol
from responsd.api.request_ids import RequestIdFilter
from responsd.app import create_app, local_model_path
from responsd.concurrency import tune_gc
from responsd.config import Settings
from responsd.providers.hub import ModelFetchError
from responsd.sealing import rotate_key
from responsd.store.sql import SQLStore

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger("responsd")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="responsd", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the Responses API server")
    serve.add_argument("--host", help="address to listen on (RESPONSD_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (RESPONSD_PORT, default 8080)")
    serve.add_argument("--upstream-url", help="Chat Completions base URL (RESPONSD_UPSTREAM_URL)")
    serve.add_argument("--data-dir", help="state directory (RESPONSD_DATA_DIR)")
    serve.add_argument("--model-path", help="GGUF file to serve (RESPONSD_MODEL_PATH)")
    serve.add_argument(
        "--model",
        help="REPO[:FILE]: a GGUF on the Hugging Face Hub to download (once) and serve "
        "(RESPONSD_MODEL; HF_TOKEN, HF_ENDPOINT, HF_HOME, HF_HUB_OFFLINE apply)",
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the database (default 1)"
    )
    keys = commands.add_parser(
        "rotate-key", help="add a new encryption key in the data dir (old ones stay readable)"
    )
    keys.add_argument("--data-dir", help="state directory (RESPONSD_DATA_DIR)")
    migrate = commands.add_parser(
        "migrate",
        help="rewrite Python code from Chat Completions to Responses (a diff unless --write)",
    )
    migrate.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    migrate.add_argument("--write", action="store_true", help="apply the changes in place")
    migrate.add_argument(
        "--check", action="store_true", help="exit 1 when something would change (for CI)"
    )
    args = parser.parse_args(argv)
    if args.command == "migrate":
        from responsd.migrate.command import main as migrate_main  # libcst only when used

        raise SystemExit(migrate_main(args.paths, args.write, args.check))
    if args.command == "rotate-key":
        data_dir = Settings(**({"data_dir": args.data_dir} if args.data_dir else {})).data_dir
        path = rotate_key(data_dir)
        print(f"New encryption key added to {path}; restart responsd to seal with it.")
        return

    flags = {
        "host": args.host,
        "port": args.port,
        "upstream_url": args.upstream_url,
        "data_dir": args.data_dir,
        "model_path": args.model_path,
        "model": args.model,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    settings = Settings(**given)
    configure_logging(settings.log_level)
    if settings.model:
        if settings.upstream_url:
            sys.exit(
                "responsd: --model names the embedded model; with an upstream, name the "
                "model in each request instead."
            )
        if settings.model_path is not None:
            sys.exit("responsd: name a model with --model or --model-path, not both.")
        try:  # once, here, with the progress bar on this terminal: workers get the path
            given["model_path"] = str(local_model_path(settings))
        except ModelFetchError as exc:
            sys.exit(f"responsd: {exc}")
        settings = Settings(**given)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,  # RequestIdMiddleware logs each request with its id
        "timeout_graceful_shutdown": 30,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "http": PROTOCOL,
    }
    GuardedHttpToolsProtocol.configure(settings.header_timeout, settings.max_connections)
    tune_gc()
    if args.workers <= 1:
        uvicorn.run(create_app(settings), **options)
        return
    # Worker processes rebuild Settings from the environment, so flags travel there;
    # migrations run once here, before any worker opens the database.
    for name, value in given.items():
        os.environ[f"RESPONSD_{name.upper()}"] = str(value)
    asyncio.run(_migrate(settings))
    uvicorn.run("responsd.cli:app_from_environment", factory=True, workers=args.workers, **options)


async def _migrate(settings: Settings) -> None:
    store = await SQLStore.open(settings.resolved_database_url(), settings.data_dir)
    await store.close()


def app_from_environment() -> Starlette:
    """The app of one worker process (`--workers N`), configured from RESPONSD_* variables."""
    settings = Settings()
    configure_logging(settings.log_level)
    GuardedHttpToolsProtocol.configure(settings.header_timeout, settings.max_connections)
    tune_gc()
    return create_app(settings)
