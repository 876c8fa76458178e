"""Reading provider payloads from files and over HTTPS.

Every remote call goes through `http_get_json`: bounded timeouts, retries with
exponential backoff on 429 and 5xx, and the provider's rate-limit headers
(football-data.org's X-Requests-Available-Minute / X-RequestCounter-Reset)
remembered in the cache so the next call, from any worker, waits its turn
instead of burning the quota.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.cache import cache

from apps.ingestion import metrics
from apps.ingestion.normalize import PayloadError, ProviderError

logger = logging.getLogger(__name__)

# Indirection so tests can observe waits without spending them.
sleep = time.sleep

_LOOPBACK_NAMES = {"localhost"}


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http":
        host = (parts.hostname or "").lower()
        try:
            loopback = host in _LOOPBACK_NAMES or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        # Plain HTTP only reaches this machine (local fixtures, tests) unless the
        # operator opts in; provider tokens must never travel in clear text.
        if loopback or getattr(settings, "INGESTION_ALLOW_INSECURE_HTTP", False):
            return
        raise ProviderError(f"Refusing plain HTTP to {host}: use an https URL.")
    raise ProviderError(f"Unsupported source {url!r}: give a file path or an https URL.")


def _decode(raw: bytes, *, where: str) -> object:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"{where} is not valid JSON: {exc}.") from exc


def file_read_json(path: str) -> object:
    candidate = Path(path)
    if not candidate.is_absolute() and not candidate.exists():
        # Relative paths also resolve against the project, so stored data
        # sources work whatever directory a worker starts in.
        candidate = Path(settings.BASE_DIR) / path
    try:
        raw = candidate.read_bytes()
    except OSError as exc:
        raise ProviderError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    return _decode(raw, where=str(path))


def _rate_limit_key(provider: str) -> str:
    return f"ingestion:ratelimit:{provider}"


def _wait_for_quota(provider: str) -> None:
    resume_at = cache.get(_rate_limit_key(provider))
    if not resume_at:
        return
    wait = resume_at - time.time()
    if wait <= 0:
        return
    if wait > settings.INGESTION_RATE_LIMIT_MAX_WAIT:
        raise ProviderError(
            f"The {provider} request quota is used up; the next request is allowed in {int(wait) + 1} s."
        )
    sleep(wait)


def _header_seconds(response: httpx.Response, *names: str) -> float | None:
    for name in names:
        value = response.headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            continue
    return None


def _remember_quota(provider: str, response: httpx.Response) -> None:
    available = response.headers.get("X-Requests-Available-Minute")
    if available is None:
        return
    try:
        exhausted = int(available) <= 0
    except ValueError:
        return
    if exhausted:
        reset = _header_seconds(response, "X-RequestCounter-Reset") or 60.0
        cache.set(_rate_limit_key(provider), time.time() + reset, timeout=int(reset) + 1)


def http_get_json(*, url: str, provider: str, headers: dict | None = None, params: dict | None = None) -> object:
    """GET `url` and decode its JSON body, or raise ProviderError / PayloadError with a readable reason."""
    _check_url(url)
    retries = max(0, int(settings.INGESTION_HTTP_RETRIES))
    backoff = float(settings.INGESTION_HTTP_BACKOFF)
    timeout = httpx.Timeout(float(settings.INGESTION_HTTP_TIMEOUT))
    last_reason = ""
    with httpx.Client(timeout=timeout, follow_redirects=True, headers={"Accept": "application/json"}) as client:
        for attempt in range(retries + 1):
            _wait_for_quota(provider)
            delay = min(backoff * (2**attempt), 60.0)
            started = time.perf_counter()
            try:
                response = client.get(url, headers=headers or {}, params=params)
            except httpx.TimeoutException:
                metrics.provider_http_errors.labels(provider=provider, reason="timeout").inc()
                last_reason = f"timed out after {settings.INGESTION_HTTP_TIMEOUT:g} s"
            except httpx.HTTPError as exc:
                metrics.provider_http_errors.labels(provider=provider, reason="connection").inc()
                last_reason = f"could not connect ({exc.__class__.__name__}: {exc})"
            else:
                metrics.provider_http_seconds.labels(provider=provider).observe(time.perf_counter() - started)
                _remember_quota(provider, response)
                status = response.status_code
                if status == 200:
                    return _decode(response.content, where=f"The answer of {provider}")
                metrics.provider_http_errors.labels(provider=provider, reason=str(status)).inc()
                last_reason = f"answered HTTP {status}"
                if status == 429:
                    told = _header_seconds(response, "X-RequestCounter-Reset", "Retry-After")
                    delay = told if told is not None else delay
                    if delay > settings.INGESTION_RATE_LIMIT_MAX_WAIT:
                        raise ProviderError(
                            f"{provider} rate limit reached; the next request is allowed in {int(delay) + 1} s."
                        )
                elif status < 500:
                    detail = response.text[:200].strip()
                    raise ProviderError(f"{provider} answered HTTP {status}" + (f": {detail}" if detail else "."))
            if attempt < retries:
                logger.info("%s %s (attempt %d); retrying in %.2f s", provider, last_reason, attempt + 1, delay)
                sleep(delay)
    raise ProviderError(f"{provider} {last_reason} ({retries + 1} attempts).")


def source_read_json(*, source: str, provider: str, headers: dict | None = None) -> object:
    """A payload from a file path or an http(s) URL."""
    if is_url(source):
        return http_get_json(url=source, provider=provider, headers=headers)
    if "://" in source:
        raise ProviderError(f"Unsupported source {source!r}: give a file path or an https URL.")
    return file_read_json(source)
