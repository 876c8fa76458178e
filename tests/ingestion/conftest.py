"""Fixtures of the ingestion tests: the shipped data files, recorded payloads,
and a real HTTP server on 127.0.0.1 that answers what each test scripts."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

PAYLOADS = Path(__file__).parent / "payloads"
DATA = Path(settings.BASE_DIR) / "data" / "openfootball"
WORLD_CUP_2026 = DATA / "worldcup-2026.json"
WORLD_CUP_2022 = DATA / "worldcup-2022.json"


def payload(name: str):
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


class Answer:
    def __init__(self, status=200, body=b"", headers=None, hang=False):
        self.status, self.body, self.headers, self.hang = status, body, dict(headers or {}), hang


class PayloadServer:
    """Answers GETs from a script per path; the last answer of a path repeats."""

    def __init__(self):
        self.scripts: dict[str, list[Answer]] = {}
        self.requests: list[dict] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = urlsplit(self.path).path
                server.requests.append({"path": path, "query": urlsplit(self.path).query, "headers": dict(self.headers)})
                script = server.scripts.get(path)
                if not script:
                    answer = Answer(404, b'{"message": "not found"}')
                else:
                    answer = script.pop(0) if len(script) > 1 else script[0]
                if answer.hang:
                    # Hold the connection until the test ends; the client's timeout must fire first.
                    server.release.wait(timeout=30)
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def script(self, path: str, *answers) -> str:
        self.scripts[path] = [a if isinstance(a, Answer) else Answer(200, _body(a)) for a in answers]
        return self.url(path)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _body(data) -> bytes:
    if isinstance(data, bytes):
        return data
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


@pytest.fixture
def http_server(settings):
    # The server listens on loopback, which feeds may reach only when allowed.
    settings.INGESTION_ALLOW_PRIVATE_HOSTS = True
    server = PayloadServer()
    yield server
    server.close()


@pytest.fixture
def fast_http(settings):
    """Short timeouts and backoff so failure paths take milliseconds."""
    settings.INGESTION_HTTP_TIMEOUT = 0.3
    settings.INGESTION_HTTP_RETRIES = 2
    settings.INGESTION_HTTP_BACKOFF = 0.01
    return settings
