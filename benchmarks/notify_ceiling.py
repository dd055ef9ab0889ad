"""The ceilings benchmarks/notifications.py compares canbao's /notify with, served the same way (uvicorn, the
same workers): `POST /ceiling/empty` reads the body and answers 204; `POST /ceiling/insert` does only a bare
`INSERT … ON CONFLICT DO NOTHING` of the body's digest into `bench_inbox` first.  `uvicorn notify_ceiling:app
--factory`, with CANBAO_DATABASE_URL."""

from __future__ import annotations

import hashlib
import os

from fastapi import FastAPI, Request, Response
from sqlalchemy import text

from canbao.store.db import make_engine


def app() -> FastAPI:
    engine = make_engine(os.environ["CANBAO_DATABASE_URL"], app_role=False)  # the owner wrote bench_inbox
    ceiling = FastAPI()
    insert = text("INSERT INTO bench_inbox (txn, body) VALUES (:txn, :body) ON CONFLICT DO NOTHING")

    @ceiling.post("/ceiling/empty")
    async def empty(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    @ceiling.post("/ceiling/insert")
    async def inserted(request: Request) -> Response:
        body = await request.body()
        from starlette.concurrency import run_in_threadpool

        def write() -> None:
            with engine.begin() as c:
                c.execute(insert, {"txn": hashlib.sha256(body).hexdigest(), "body": body.decode()})

        await run_in_threadpool(write)
        return Response(status_code=204)

    return ceiling
