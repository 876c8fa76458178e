"""Reading provider payloads from files and over HTTPS.

Every remote call goes through `http_get_json`: bounded timeouts, retries with
exponential backoff on 429 and 5xx, and the provider's rate-limit headers
(football-data.org's X-Requests-Available-Minute / X-RequestCounter-Reset)
remembered in the cache so the next call, from any worker, waits its turn
instead of burning the quota.

A source URL is typed by staff and fetched by a worker inside the network, so
it must not become a way in: every connection (redirects included) goes only
to public addresses, checked on the address actually dialled, not on a name
that may resolve differently a moment later; redirects are followed by hand
(never from https to http, provider credentials never to another host); each
attempt has one deadline for everything, and a body has a size cap. File
sources are read only below INGESTION_FILE_ROOT.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpcore
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
    root = Path(settings.INGESTION_FILE_ROOT).resolve()
    # Resolved first, so neither `..` nor a symlink leads out of the root.
    if not candidate.resolve().is_relative_to(root):
        raise ProviderError(f"Refusing {path}: file sources must be under INGESTION_FILE_ROOT ({root}).")
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


_MAX_REDIRECTS = 5


def _address_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def host_addresses_check(host: str, port: int) -> str:
    """The address to dial for `host`: refused when any of its addresses is not public.

    Loopback, private, link-local (cloud metadata), multicast and reserved
    ranges reach inside the network; INGESTION_ALLOW_PRIVATE_HOSTS lets a
    deployment (or a test with a local server) reach them on purpose.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    addresses = [info[4][0] for info in infos]
    if not settings.INGESTION_ALLOW_PRIVATE_HOSTS:
        for address in addresses:
            if _address_refused(ipaddress.ip_address(address.split("%", 1)[0])):
                raise ProviderError(
                    f"Refusing {host}: it resolves to {address}, which is not a public address "
                    "(set INGESTION_ALLOW_PRIVATE_HOSTS to allow it)."
                )
    return addresses[0]


class _PublicAddressBackend(httpcore.SyncBackend):
    """Dials the address it checked, so a name cannot resolve to a public address for the check and a private one for the connection."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        address = host_addresses_check(host, port)
        return super().connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )


def _client() -> httpx.Client:
    transport = httpx.HTTPTransport()
    # httpx has no public hook for how it connects; httpcore's pool takes a
    # network backend (TLS still verifies and sends SNI for the URL's host).
    transport._pool._network_backend = _PublicAddressBackend()
    # trust_env=False: an HTTP(S)_PROXY from the environment would dial the
    # provider on the worker's behalf, past the address check.
    return httpx.Client(
        transport=transport, follow_redirects=False, trust_env=False, headers={"Accept": "application/json"}
    )


def _redirect_target(response: httpx.Response) -> httpx.URL:
    target = response.url.join(response.headers.get("Location", ""))
    if response.url.scheme == "https" and target.scheme != "https":
        raise ProviderError(f"Refusing a redirect from https to {target.scheme}: {target.host}.")
    _check_url(str(target))
    return target


def _body_read(response: httpx.Response, *, deadline: float) -> bytes:
    limit = int(settings.INGESTION_MAX_BYTES)
    too_large = ProviderError(f"The answer is larger than INGESTION_MAX_BYTES ({limit} bytes).")
    try:
        if int(response.headers.get("Content-Length", "0")) > limit:
            raise too_large
    except ValueError:
        pass
    chunks, size = [], 0
    # Decoded bytes are counted, so a compressed answer cannot expand past the cap either.
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise too_large
        if time.monotonic() > deadline:
            # A server dripping bytes never trips a per-read timeout.
            raise httpx.ReadTimeout("the request deadline passed while reading the answer")
        chunks.append(chunk)
    return b"".join(chunks)


def _get(client: httpx.Client, url: str, *, headers: dict, params: dict | None) -> tuple[httpx.Response, bytes]:
    """One attempt: GET with redirects followed by hand, all within INGESTION_HTTP_TIMEOUT seconds."""
    deadline = time.monotonic() + float(settings.INGESTION_HTTP_TIMEOUT)
    target = httpx.URL(url, params=params)
    for _ in range(_MAX_REDIRECTS + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise httpx.ConnectTimeout("the request deadline passed")
        request = client.build_request("GET", target, headers=headers, timeout=httpx.Timeout(remaining))
        response = client.send(request, stream=True)
        try:
            if not response.is_redirect:
                return response, _body_read(response, deadline=deadline)
            previous, target = target, _redirect_target(response)
        finally:
            response.close()
        if (target.scheme, target.host, target.port) != (previous.scheme, previous.host, previous.port):
            # The caller's headers carry the provider's credentials (X-Auth-Token).
            headers = {}
    raise ProviderError(f"More than {_MAX_REDIRECTS} redirects from {url}.")


def http_get_json(*, url: str, provider: str, headers: dict | None = None, params: dict | None = None) -> object:
    """GET `url` and decode its JSON body, or raise ProviderError / PayloadError with a readable reason."""
    _check_url(url)
    retries = max(0, int(settings.INGESTION_HTTP_RETRIES))
    backoff = float(settings.INGESTION_HTTP_BACKOFF)
    last_reason = ""
    with _client() as client:
        for attempt in range(retries + 1):
            _wait_for_quota(provider)
            delay = min(backoff * (2**attempt), 60.0)
            started = time.perf_counter()
            try:
                response, body = _get(client, url, headers=headers or {}, params=params)
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
                    return _decode(body, where=f"The answer of {provider}")
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
                    detail = body[:200].decode("utf-8", "replace").strip()
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
