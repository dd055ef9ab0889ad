"""Helpers for tests/test_inbox_concurrency.py: orders written in bulk, payments as a verified notification says
them, the inbox's writer held so that notifications go into one batch, `canbao serve` as a subprocess."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, select

from canbao.channels import ChannelPayment
from canbao.clock import CAMPAIGN_ZONE
from canbao.services import inbox
from canbao.store.tables import channel_notifications
from canbao.synth.orders import AMOUNT, TODAY, open_orders

PAID_AT = dt.datetime(2021, 12, 20, 10, 0, tzinfo=CAMPAIGN_ZONE)


def make_orders(engine: Engine, count: int, start: int = 0) -> list[str]:
    """`count` open WeChat ("wx") orders of one new resident each, written in bulk; their out_trade_no."""
    return open_orders(engine, count, start=start, prefix="CBTEST")


def payment(out_trade_no: str, transaction_id: str, amount_fen: int = AMOUNT) -> ChannelPayment:
    """What a verified WeChat Pay notification of this payment says."""
    return ChannelPayment(channel_kind="wechatpay_v3", notification_id=f"n-{transaction_id}"[:64],
                          out_trade_no=out_trade_no, transaction_id=transaction_id, amount_fen=amount_fen,
                          succeeded_at=PAID_AT, merchant_id=None)  # fmt: skip


def rows_of(c: Connection, table: Any, *columns: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in c.execute(select(*columns).select_from(table).order_by(*columns))]


def inbox_rows(engine: Engine) -> list[tuple[Any, ...]]:
    """(transaction_id, status, amount_fen) of every inbox row."""
    n = channel_notifications.c
    with engine.connect() as c:
        return rows_of(c, channel_notifications, n.transaction_id, n.status, n.amount_fen)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.005)


def queued(engine: Engine) -> int:
    """How many notifications wait for the engine's inbox writer."""
    with inbox._lock:
        writer = inbox._writers.get(id(engine))
        return len(writer.waiting) if writer is not None and writer.engine is engine else 0


def wait_queued(engine: Engine, count: int) -> None:
    wait_until(lambda: queued(engine) == count, f"{count} notifications queued for the inbox's writer")


class HeldWriter:
    """Replaces `inbox.write_batch`: the writer's first batch waits until `release()`, so that whatever is
    submitted meanwhile goes in its next batch, whole; `batches` lists every call's transaction ids."""

    def __init__(self) -> None:
        self.real = inbox.write_batch
        self.batches: list[list[str]] = []
        self.entered, self.released = threading.Event(), threading.Event()

    def __call__(self, c: Connection, items: Sequence[Any]) -> list[inbox.Written]:
        self.batches.append([i.payment.transaction_id for i in items])
        if len(self.batches) == 1:
            self.entered.set()
            assert self.released.wait(30), "the held writer was never released"
        return self.real(c, items)

    def release(self) -> None:
        self.released.set()


# --- canbao serve as a subprocess --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(url: str, workers: int, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`canbao serve` on `url`, in a process group of its own (a kill takes its workers too), once it answers;
    the process and its base address."""
    port = free_port()
    env = {**os.environ, "CANBAO_DATABASE_URL": url, "CANBAO_FILES_DIR": str(folder / "files")}
    command = [sys.executable, "-m", "canbao.cli", "serve", "--port", str(port), "--workers", str(workers),
               "--today", TODAY.isoformat()]  # fmt: skip
    log = (folder / f"serve-{port}.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"canbao serve exited: {(folder / f'serve-{port}.log').read_text()}")
        try:
            httpx.post(f"{base}/notify/wechatpay_v3/none", timeout=1)
            return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    kill(server)
    raise AssertionError("canbao serve did not answer within 60 s")


def kill(server: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGKILL) -> None:
    """`sig` to the server's process group (the server and its workers), then reaped."""
    with contextlib.suppress(ProcessLookupError):  # (the group outlives its leader while a worker lives)
        os.killpg(server.pid, sig)
    server.wait(30)
