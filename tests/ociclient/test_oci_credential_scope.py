"""Credentials stay with the registry they belong to, whatever hostile answers say.

The two hosts are tiny HTTP servers playing a registry and a hostile second host (a
CDN a blob redirects to, a pagination link target): behaviour a real registry server
cannot be made to show."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Tuple

import pytest

from ociclient.auth import Credentials
from ociclient.registry import RegistryClient
from ociclient.transport import Transport

Log = List[Tuple[str, str, str]]


def _serve(handler):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def _reply(h, status, headers=(), body=b""):
    h.send_response(status)
    for k, v in headers:
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


@pytest.fixture
def hosts():
    log: Log = []
    ports = {}

    class Registry(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            log.append(("A", self.path, self.headers.get("Authorization") or ""))
            if self.path.startswith("/token"):
                return _reply(self, 200, body=json.dumps({"token": "tokA"}).encode())
            if self.headers.get("Authorization") != "Bearer tokA":
                return _reply(self, 401, [("WWW-Authenticate",
                                           f'Bearer realm="http://127.0.0.1:{ports["A"]}/token",service="A"')])
            if self.path.startswith("/v2/repo/blobs/"):
                return _reply(self, 307, [("Location", f"http://127.0.0.1:{ports['B']}/cdn/blob")])
            if self.path.startswith("/v2/repo/tags/list"):
                return _reply(self, 200, [("Link", f'<http://127.0.0.1:{ports["B"]}/v2/repo/tags/list?last=t1>; '
                                                   'rel="next"')], json.dumps({"name": "repo", "tags": ["t1"]}).encode())
            return _reply(self, 200)

    class Hostile(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            log.append(("B", self.path, self.headers.get("Authorization") or ""))
            if self.path.startswith("/steal"):
                return _reply(self, 200, body=json.dumps({"token": "evil"}).encode())
            if self.path.startswith("/v2/repo/tags/list"):
                return _reply(self, 200, body=json.dumps({"name": "repo", "tags": []}).encode())
            return _reply(self, 401, [("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{ports["B"]}/steal"')])

    a, b = _serve(Registry), _serve(Hostile)
    ports["A"], ports["B"] = a.server_address[1], b.server_address[1]
    yield ports, log
    a.shutdown()
    b.shutdown()


def _transport(port):
    return Transport(f"127.0.0.1:{port}", credentials=Credentials(username="alice", password="s3cret"),
                     insecure=True)


def test_a_401_from_a_redirect_target_does_not_get_the_password(hosts):
    ports, log = hosts
    t = _transport(ports["A"])
    resp = t.request("GET", "/v2/repo/blobs/sha256:" + "0" * 64, scopes=["repository:repo:pull"])
    assert resp.status_code == 401  # the CDN's refusal is passed on, not acted upon
    assert [entry for entry in log if entry[0] == "B" and entry[2]] == []
    assert not any(path.startswith("/steal") for _, path, _ in log)
    # and the registry itself still gets its own token afterwards
    log.clear()
    t.request("GET", "/v2/repo/manifests/x", scopes=["repository:repo:pull"])
    assert ("A", "/v2/repo/manifests/x", "Bearer tokA") in log


def test_pagination_links_to_other_hosts_get_no_credentials(hosts):
    ports, log = hosts
    client = RegistryClient(_transport(ports["A"]))
    client.list_tags("repo")
    assert [entry for entry in log if entry[0] == "B" and entry[2]] == []
