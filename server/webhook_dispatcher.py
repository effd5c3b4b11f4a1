"""The webhook dispatcher: a task in every server process that sends due deliveries.

Every process runs one, and they share the work through the database alone: whenever
it has a free slot (WEBHOOK_CONCURRENCY) it leases due deliveries (models/webhooks.claim_due,
a conditional UPDATE on lease_until), sends each in a task of its own, and writes each
attempt. A lease lasts longer than an
attempt can (WEBHOOK_TIMEOUT_SECONDS plus a margin), so it expires only when its owner
died; the delivery is then sent again by whoever comes next. Delivery is therefore at
least once: a receiver deduplicates on the webhook-id header, which every attempt of an
event repeats (Standard Webhooks).

Each delivery decrypts its webhook's secret (stored encrypted: models/webhook_secrets.py)
just before signing; a secret no configured key opens fails that attempt with a message
saying so, like an unreachable receiver, and is retried with the same backoff, so fixing
WEBHOOK_SECRET_KEYS and restarting lets it through. At start, the dispatcher encrypts
plain-text secrets left from before and re-encrypts those an older key made.

Requests are signed with the `standardwebhooks` package, go through GuardedTransport
(the SSRF check at connect time), never follow redirects, and give up after the timeout,
so a slow receiver holds a slot of this process for that long at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from standardwebhooks.webhooks import Webhook as Signer

from models.webhook_secrets import SecretBox, SecretKeyError
from models.webhooks import (
    WebhookDelivery,
    claim_due,
    encrypt_stored_secrets,
    leased_deliveries,
    record_attempt,
    signing_secret,
)
from resolvers.webhook_urls import GuardedTransport, UrlRefused

__all__ = ["WebhookDispatcher", "WebhookSettings", "backoff_seconds", "message_body"]

logger = logging.getLogger("server.webhook_dispatcher")

# Beyond the attempt's own timeout: the time to write its outcome.
LEASE_MARGIN_SECONDS = 5.0
# 2xx is success; everything else (3xx included: redirects are not followed) is retried.
USER_AGENT = "future-skills-training-api-webhooks/1"


@dataclass(frozen=True)
class WebhookSettings:
    retry_base_seconds: float
    max_attempts: int
    timeout_seconds: float
    poll_seconds: float
    concurrency: int
    allow_private_networks: bool


def backoff_seconds(base: float, attempts_made: int) -> float:
    """Wait before the next attempt: base, 2*base, 4*base... after 1, 2, 3... failures."""
    return float(base * 2 ** (attempts_made - 1))


def message_body(event_type: str, created_at: datetime, data: dict[str, object]) -> bytes:
    return orjson.dumps({"type": event_type, "timestamp": created_at.isoformat(), "data": data})


class WebhookDispatcher:
    def __init__(self, settings: WebhookSettings, secrets: SecretBox) -> None:
        self._settings = settings
        self._secrets = secrets
        self._name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(allow_private=self._settings.allow_private_networks),
            timeout=self._settings.timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        """Keep up to WEBHOOK_CONCURRENCY deliveries in flight: a slot freed by one
        attempt is filled at once, so a slow receiver holds one slot (for the timeout at
        most), never the others."""
        in_flight: set[asyncio.Task[None]] = set()
        await self._encrypt_stored_secrets()
        try:
            while True:
                free = self._settings.concurrency - len(in_flight)
                started = 0
                if free > 0:
                    try:
                        started = await self._start(free, in_flight)
                    except Exception:
                        # A database outage, most likely: the deliveries wait in the outbox.
                        logger.exception("webhook dispatch round failed; trying again")
                if free > 0 and started == free:
                    continue  # maybe more are due: claim again as soon as a slot frees
                if in_flight:
                    await asyncio.wait(
                        in_flight,
                        timeout=self._settings.poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                else:
                    await asyncio.sleep(self._settings.poll_seconds)
        finally:
            for task in in_flight:
                task.cancel()

    async def _encrypt_stored_secrets(self) -> None:
        """Plain-text secrets encrypted, an older key's re-encrypted with the first; a
        failure (the database down) is logged, and each secret is then done at first use."""
        try:
            rewritten, unreadable = await encrypt_stored_secrets(self._secrets)
        except Exception:
            logger.exception("webhook secrets could not be re-encrypted at start-up")
            return
        if rewritten:
            logger.info("webhook secrets: %d encrypted with the current key", rewritten)
        if unreadable:
            logger.error(
                "webhook secrets: %d cannot be decrypted with WEBHOOK_SECRET_KEYS; their "
                "deliveries fail until the key that encrypted them is added",
                unreadable,
            )

    async def _start(self, limit: int, in_flight: set[asyncio.Task[None]]) -> int:
        """Lease up to `limit` due deliveries and start sending each; how many."""
        owner = f"{self._name}-{uuid.uuid4().hex[:8]}"
        lease = timedelta(seconds=self._settings.timeout_seconds + LEASE_MARGIN_SECONDS)
        ids = await claim_due(owner, datetime.now(UTC), lease, limit)
        if not ids:
            return 0
        deliveries = await leased_deliveries(ids)
        for delivery in deliveries:
            task = asyncio.create_task(self._deliver_logged(delivery, owner))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        return len(deliveries)

    async def _deliver_logged(self, delivery: WebhookDelivery, owner: str) -> None:
        try:
            await self._deliver(delivery, owner)
        except Exception:
            # Its lease expires and another round sends it again.
            logger.exception("webhook delivery %s could not be recorded", delivery.id)

    async def _deliver(self, delivery: WebhookDelivery, owner: str) -> None:
        assert self._client is not None
        event, webhook = delivery.event, delivery.webhook
        attempt = delivery.attempts + 1
        body = message_body(event.event_type, event.created_at, event.data)
        status_code: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            secret = await signing_secret(webhook, self._secrets)
        except SecretKeyError as exc:
            error = str(exc)  # nothing is sent: the attempt fails and is retried
        else:
            status_code, error = await self._post(webhook.url, secret, event.message_id, body)
        duration_ms = (time.perf_counter() - started) * 1000
        succeeded = error is None
        now = datetime.now(UTC)
        next_at = None
        if not succeeded and attempt < self._settings.max_attempts:
            wait = backoff_seconds(self._settings.retry_base_seconds, attempt)
            next_at = now + timedelta(seconds=wait)
        written = await record_attempt(
            delivery,
            owner,
            attempt=attempt,
            status_code=status_code,
            duration_ms=duration_ms,
            error=error,
            succeeded=succeeded,
            next_attempt_at=next_at,
            now=now,
        )
        outcome = "delivered" if succeeded else ("retry" if next_at else "failed")
        logger.info(
            "webhook delivery %s (webhook %s, event %s %s) attempt %d: %s in %.0f ms%s%s",
            delivery.id,
            webhook.id,
            event.id,
            event.message_id,
            attempt,
            outcome,
            duration_ms,
            f" ({error})" if error else "",
            "" if written else " (lease lost: not recorded)",
        )

    async def _post(
        self, url: str, secret: str, message_id: str, body: bytes
    ) -> tuple[int | None, str | None]:
        """Sign and send one attempt: (status code, error or None)."""
        assert self._client is not None
        sent_at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Signer(secret).sign(message_id, sent_at, body.decode()),
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except UrlRefused as exc:
            return None, f"refused: {exc}"
        except httpx.TimeoutException:
            return None, f"timed out after {self._settings.timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not 200 <= response.status_code < 300:
            return response.status_code, f"HTTP {response.status_code}"
        return response.status_code, None
