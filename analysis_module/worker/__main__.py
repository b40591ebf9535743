"""`python -m analysis_module.worker [--concurrency N]`: flags and environment -> run."""

from __future__ import annotations

import argparse
import asyncio

from analysis_module.ingest.log_config import configure_logging
from analysis_module.startup import OneLineArgumentParser, require_postgres, settings_or_exit
from analysis_module.worker.health import Health, start_endpoint
from analysis_module.worker.metrics import WorkerMetrics
from analysis_module.worker.supervisor import run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OneLineArgumentParser(
        prog="python -m analysis_module.worker",
        description="Run ingestion jobs (analyses of uploaded profiles, removals, rescans).",
    )
    parser.add_argument(
        "--concurrency", type=int, help="jobs run at once (default WORKER_CONCURRENCY, 1)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = settings_or_exit(
        {"worker_concurrency": args.concurrency},
        {"worker_concurrency": "--concurrency"},
        require=require_postgres("the worker (its queue)"),
    )
    configure_logging(settings)
    metrics = WorkerMetrics()
    health = Health()
    server = start_endpoint(settings, metrics, health)
    try:
        asyncio.run(run(settings, metrics, health))
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
