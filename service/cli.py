"""Command line: ``fiqa-service serve`` runs the gateway; ``fiqa-service score IMAGE...`` scores files
in-process and prints the same JSON the API returns (for people trying it without a server); ``fiqa-service
hash-key`` prints the stored form of an API key read from standard input."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import uuid
from pathlib import Path

from service import logs
from service.api.keys import hash_key
from service.api.responses import score_response
from service.errors import ServiceError
from service.pipeline import ImageInput, Pipeline
from service.runtime import Runtime
from service.schemas import ScoreOptions
from service.settings import get_settings


async def _score_files(paths: list[Path], options: ScoreOptions) -> int:
    async with Runtime.from_env() as runtime:
        pipeline = Pipeline(runtime)
        images = [ImageInput(id=str(path), data=path.read_bytes()) for path in paths]
        try:
            scored = await pipeline.score(images, options)
        except ServiceError as error:
            print(json.dumps({"error": {"code": error.code, "message": error.message}}, indent=2))
            return 1
    print(score_response(scored, uuid.uuid4().hex, options.return_maps).model_dump_json(indent=2))
    return 0


def _hash_key(name: str | None) -> int:
    """Print the SHA-256 of the key on standard input (a prompt without echo on a terminal), as a line of
    ``FIQA_API_KEYS_FILE`` when ``name`` is given. The key is never an argument, so it stays out of shell history
    and process listings."""
    key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.read().removesuffix("\n")
    key = key.removesuffix("\r")
    if not key:
        print("no key on standard input", file=sys.stderr)
        return 2
    digest = hash_key(key)
    print(f"{name}:{digest}" if name else digest)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fiqa-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default=None, help="default: HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: PORT or 8000")
    serve.add_argument("--workers", type=int, default=1)
    score = commands.add_parser("score", help="score image files and print the API's JSON")
    score.add_argument("images", nargs="+", type=Path)
    score.add_argument("--models", default=None, help="comma-separated quality models")
    score.add_argument("--threshold", type=float, default=None)
    score.add_argument("--max-faces", type=int, default=None)
    hash_cmd = commands.add_parser(
        "hash-key", help="print the SHA-256 of an API key read from stdin (for FIQA_API_KEY_HASHES or a keys file)"
    )
    hash_cmd.add_argument("--name", default=None, help="print 'NAME:HASH', a line of FIQA_API_KEYS_FILE")
    args = parser.parse_args(argv)

    if args.command == "hash-key":
        return _hash_key(args.name)

    if args.command == "serve":
        import uvicorn

        from service.server import DeadlineH11Protocol

        settings = get_settings()
        uvicorn.run(
            "service.api:create_app",
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=args.workers,
            log_config=logs.logging_config(settings.log_level, settings.log_format),
            access_log=False,
            server_header=False,  # no "server: uvicorn" advertised to clients
            http=DeadlineH11Protocol,  # request headers within FIQA_HEADER_TIMEOUT_S
            timeout_keep_alive=settings.keep_alive_timeout_s,
            limit_concurrency=settings.max_connections,
        )
        return 0
    missing = [str(path) for path in args.images if not path.is_file()]
    if missing:
        print(f"not a file: {', '.join(missing)}", file=sys.stderr)
        return 2
    options = ScoreOptions(
        models=args.models.split(",") if args.models else None,
        threshold=args.threshold,
        max_faces=args.max_faces,
    )
    return asyncio.run(_score_files(args.images, options))


if __name__ == "__main__":
    raise SystemExit(main())
