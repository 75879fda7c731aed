"""Helpers for the ociclient tests: real registries (docker-registry), a token server,
a fault-injecting proxy, skopeo, and hand-written OCI layouts."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional, Sequence, Tuple


REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
USER, PASSWORD = "testuser", "testpass"


# --------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run(cmd: Sequence[str], **kw: Any) -> subprocess.CompletedProcess:
    p = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["skopeo", "--insecure-policy", *args]
    if check:
        return run(cmd, timeout=300)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


class Registry:
    """A docker-registry process on 127.0.0.1:<free port>; files under ``root``."""

    def __init__(self, root: str, auth: Optional[Dict[str, Any]] = None, tls: Optional[Tuple[str, str]] = None,
                 client_ca: Optional[str] = None):
        self.root = root
        self.auth = auth
        self.tls = tls
        self.client_ca = client_ca
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def start(self) -> "Registry":
        os.makedirs(self.root, exist_ok=True)
        for attempt in range(5):
            self.port = free_port()
            cfg = {
                "version": 0.1,
                "log": {"level": "info", "accesslog": {"disabled": True}},
                "storage": {"filesystem": {"rootdirectory": os.path.join(self.root, "data")},
                            "delete": {"enabled": True}},
                "http": {"addr": self.host, "secret": "test-secret-" + secrets.token_hex(4)},
            }
            if self.auth:
                cfg["auth"] = self.auth
            if self.tls:
                cfg["http"]["tls"] = {"certificate": self.tls[0], "key": self.tls[1]}
                if self.client_ca:
                    cfg["http"]["tls"]["clientcas"] = [self.client_ca]
            cfg_path = os.path.join(self.root, "config.yml")
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)  # JSON is YAML
            log = open(os.path.join(self.root, "registry.log"), "ab")
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", cfg_path], stdout=log, stderr=log)
            log.close()
            deadline = time.time() + 15
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return self
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"registry did not start; see {self.root}/registry.log")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# --------------------------------------------------------------------------- certificates
def make_ca_and_cert(d: str, cn: str = "127.0.0.1") -> Dict[str, str]:
    os.makedirs(d, exist_ok=True)
    ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = os.path.join(d, "tls.key"), os.path.join(d, "tls.csr"), os.path.join(d, "tls.crt")
    ext = os.path.join(d, "ext.cnf")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
         "-days", "2", "-subj", "/CN=ociclient test CA"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}"])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
         "-out", crt, "-days", "2", "-extfile", ext])
    # a client certificate from the same CA (for registries that require one)
    ckey, ccsr, ccrt = os.path.join(d, "client.key"), os.path.join(d, "client.csr"), os.path.join(d, "client.cert")
    cext = os.path.join(d, "client-ext.cnf")
    with open(cext, "w") as f:
        f.write("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", ckey, "-out", ccsr, "-subj", "/CN=client"])
    run(["openssl", "x509", "-req", "-in", ccsr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
         "-out", ccrt, "-days", "2", "-extfile", cext])
    return {"ca": ca_crt, "cert": crt, "key": key, "client_cert": ccrt, "client_key": ckey}


# --------------------------------------------------------------------------- token server
def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class TokenServer:
    """A Docker token server (ES256 JWTs, raw r||s signature, kid from the SPKI)."""

    ISSUER = "test-token-issuer"
    SERVICE = "test-registry"

    def __init__(self, root: str, users: Dict[str, str], public_prefixes: Sequence[str] = ("public/",)):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        import datetime

        self.users = users
        self.refresh_tokens: Dict[str, str] = {}
        self.public_prefixes = tuple(public_prefixes)
        self.requests: List[Dict[str, Any]] = []
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        os.makedirs(root, exist_ok=True)
        self.bundle = os.path.join(root, "bundle.pem")
        with open(self.bundle, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        spki = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        b32 = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode().rstrip("=")
        self.kid = ":".join(b32[i:i + 4] for i in range(0, 48, 4))
        self.expires_in = 300
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                """OAuth2: grant_type=refresh_token with a known refresh token."""
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                server.requests.append({"query": form, "auth": "", "method": "POST"})
                user = server.refresh_tokens.get((form.get("refresh_token") or [""])[0])
                if form.get("grant_type") != ["refresh_token"] or user is None:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                scopes = " ".join(form.get("scope", [])).split()
                self._reply(user, scopes)

            def do_GET(self) -> None:
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                auth = self.headers.get("Authorization", "")
                server.requests.append({"query": q, "auth": auth})
                user = None
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if server.users.get(u) != p:
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = u
                self._reply(user, [x for scope in q.get("scope", []) for x in scope.split(" ")])

            def _reply(self, user: Optional[str], scopes: List[str]) -> None:
                access = []
                for s in scopes:
                    head, _, actions = s.rpartition(":")
                    typ, _, name = head.partition(":")
                    if typ != "repository":
                        continue
                    acts = actions.split(",")
                    if user is None:
                        if name.startswith(server.public_prefixes):
                            acts = [a for a in acts if a == "pull"]
                        else:
                            acts = []
                    access.append({"type": typ, "name": name, "actions": acts})
                tok = server.sign(user or "", access)
                body = json.dumps({"token": tok, "access_token": tok, "expires_in": server.expires_in,
                                   "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def sign(self, sub: str, access: List[Dict[str, Any]]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid}
        claims = {"iss": self.ISSUER, "sub": sub, "aud": self.SERVICE, "exp": now + self.expires_in,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        si = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        r, s = decode_dss_signature(self.key.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
        return si + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def registry_auth(self) -> Dict[str, Any]:
        return {"token": {"realm": self.realm, "service": self.SERVICE, "issuer": self.ISSUER,
                          "rootcertbundle": self.bundle}}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- fault proxy
class FaultProxy:
    """A reverse proxy in front of a registry that can break things on purpose.

    ``faults`` is a list of dicts consumed in order by matching requests:
    ``{"match": "/blobs/", "method": "GET", "action": "cut", "after": 1000}``
    actions: ``cut`` (send headers and ``after`` bytes, then close), ``corrupt`` (flip the byte
    at ``offset``), ``status`` (answer ``code`` with ``headers``), ``redirect`` (307 to ``to``
    + the path), ``swallow`` (answer a PATCH with 202 as if the chunk had been stored, without
    passing it on: a lost chunk). ``range_start`` limits a fault to requests whose
    ``Content-Range`` starts there. Each fault fires ``times`` times (default 1).
    """

    def __init__(self, upstream: str):
        self.upstream = upstream  # host:port (http)
        self.faults: List[Dict[str, Any]] = []
        #: emulate ?n=&last= pagination with Link headers on tags/list (distribution 2.8 ignores n)
        self.paginate_tags = False
        self.log: List[Dict[str, Any]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _fault(self) -> Optional[Dict[str, Any]]:
                with proxy.lock:
                    for f in proxy.faults:
                        if f.get("times", 1) <= 0:
                            continue
                        if f.get("method", self.command) != self.command:
                            continue
                        if f["match"] not in self.path:
                            continue
                        if "range_start" in f and not self.headers.get("Content-Range", "").startswith(
                                f"{f['range_start']}-"):
                            continue
                        f["times"] = f.get("times", 1) - 1
                        return f
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    body = b"".join(chunks)
                with proxy.lock:
                    proxy.log.append({"method": self.command, "path": self.path,
                                      "headers": dict(self.headers.items())})
                fault = self._fault()
                if fault and fault["action"] == "status":
                    payload = json.dumps({"errors": [{"code": fault.get("error", "TOOMANYREQUESTS"),
                                                      "message": "injected"}]}).encode()
                    self.send_response(fault["code"])
                    for k, v in fault.get("headers", {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault and fault["action"] == "swallow":
                    self.send_response(202)
                    self.send_header("Location", self.path)
                    end = self.headers.get("Content-Range", "0-0").split("-")[-1]
                    self.send_header("Range", f"0-{end}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault and fault["action"] == "redirect":
                    self.send_response(307)
                    self.send_header("Location", fault["to"] + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                import http.client
                conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection")}
                if body or self.command in ("PUT", "POST", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read() if self.command != "HEAD" else b""
                conn.close()
                extra_headers: Dict[str, str] = {}
                if proxy.paginate_tags and "/tags/list" in self.path and resp.status == 200:
                    parts = urllib.parse.urlsplit(self.path)
                    q = urllib.parse.parse_qs(parts.query)
                    obj = json.loads(data)
                    tags = sorted(obj.get("tags") or [])
                    if "last" in q:
                        tags = [t for t in tags if t > q["last"][0]]
                    if "n" in q:
                        n = int(q["n"][0])
                        if len(tags) > n:
                            tags = tags[:n]
                            extra_headers["Link"] = (f'<{parts.path}?n={n}&last={tags[-1]}>; rel="next"')
                    obj["tags"] = tags
                    data = json.dumps(obj).encode()
                if fault and fault["action"] == "corrupt" and data:
                    off = fault.get("offset", len(data) // 2)
                    data = data[:off] + bytes([data[off] ^ 0xFF]) + data[off + 1:]
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() in ("transfer-encoding", "connection", "content-length"):
                        continue
                    self.send_header(k, v)
                for k, v in extra_headers.items():
                    self.send_header(k, v)
                clen = resp.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
                if clen is not None:
                    self.send_header("Content-Length", clen)
                self.end_headers()
                if fault and fault["action"] == "cut":
                    self.wfile.write(data[: fault.get("after", len(data) // 2)])
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault and fault["action"] == "slow":
                    step = fault.get("step", 16384)
                    try:
                        for i in range(0, len(data), step):
                            self.wfile.write(data[i:i + step])
                            self.wfile.flush()
                            time.sleep(fault.get("delay", 0.05))
                    except OSError:
                        pass
                    return
                if data:
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def requests_matching(self, s: str, method: Optional[str] = None) -> List[Dict[str, Any]]:
        with self.lock:
            return [r for r in self.log if s in r["path"] and (method is None or r["method"] == method)]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class HeaderRecorder:
    """A tiny HTTP server on ``localhost`` that records request headers and serves blobs by
    fetching them from a registry with its own credentials (the target of a redirect)."""

    def __init__(self, upstream_url: str, auth_header: Optional[str] = None):
        self.seen: List[Dict[str, str]] = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                rec.seen.append(dict(self.headers.items()))
                req = urllib.request.Request(upstream_url + self.path)
                if auth_header:
                    req.add_header("Authorization", auth_header)
                if self.headers.get("Range"):
                    req.add_header("Range", self.headers["Range"])
                with urllib.request.urlopen(req) as r:
                    data = r.read()
                    status = r.status
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- images
def make_layer_tar(seed: int, files: int = 3, size: int = 20000) -> bytes:
    rnd = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        d = tarfile.TarInfo(f"dir{seed}")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1700000000
        tf.addfile(d)
        for i in range(files):
            data = bytes(rnd.getrandbits(8) for _ in range(size // 4)) + b"x" * (size - size // 4)
            ti = tarfile.TarInfo(f"dir{seed}/file{i}")
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def compress(data: bytes, how: str) -> Tuple[bytes, str]:
    if how == "gzip":
        return gzip.compress(data, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(data), "application/vnd.oci.image.layer.v1.tar+zstd"
    return data, "application/vnd.oci.image.layer.v1.tar"


def write_blob(layout: str, data: bytes) -> Dict[str, Any]:
    d = sha256(data)
    p = os.path.join(layout, "blobs", "sha256", d.split(":")[1])
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    return {"digest": d, "size": len(data)}


def build_image(layout: str, *, seed: int = 1, layers: int = 2, compression: str = "gzip",
                arch: str = "amd64", layer_size: int = 20000) -> Dict[str, Any]:
    """Write blobs of one image into ``layout``; returns its manifest descriptor (not indexed)."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descs, diff_ids = [], []
    for i in range(layers):
        tar = make_layer_tar(seed * 100 + i, size=layer_size)
        diff_ids.append(sha256(tar))
        blob, mtype = compress(tar, compression)
        descs.append({"mediaType": mtype, **write_blob(layout, blob)})
    config = {"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"], "Labels": {"seed": str(seed)}},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "test"} for _ in descs]}
    cdesc = {"mediaType": "application/vnd.oci.image.config.v1+json",
             **write_blob(layout, json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cdesc, "layers": descs}
    mbytes = json.dumps(manifest, indent=2).encode()
    return {"mediaType": manifest["mediaType"], **write_blob(layout, mbytes),
            "platform": {"architecture": arch, "os": "linux", **({"variant": "v8"} if arch == "arm64" else {})}}


def set_index(layout: str, entries: List[Tuple[Dict[str, Any], Optional[str]]]) -> None:
    manifests = []
    for desc, tag in entries:
        d = {k: v for k, v in desc.items() if k != "platform"}
        if tag:
            d["annotations"] = {"org.opencontainers.image.ref.name": tag}
        manifests.append(d)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": manifests}, f)


def build_layout(layout: str, tag: str = "v1", **kw: Any) -> Dict[str, Any]:
    desc = build_image(layout, **kw)
    set_index(layout, [(desc, tag)])
    return desc


def build_multiarch_layout(layout: str, tag: str = "multi") -> Dict[str, Any]:
    a = build_image(layout, seed=11, arch="amd64")
    b = build_image(layout, seed=12, arch="arm64")
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [a, b]}
    ib = json.dumps(index).encode()
    desc = {"mediaType": index["mediaType"], **write_blob(layout, ib)}
    set_index(layout, [(desc, tag)])
    return {"index": desc, "amd64": a, "arm64": b}




# --------------------------------------------------------------------------- hostile registry
class HostileRegistry:
    """A registry that misbehaves on purpose, on 127.0.0.1 only.

    ``route(substring, behaviour)`` answers every request whose path contains ``substring``
    (the most recently added route wins) with a behaviour made by the functions below:
    :meth:`respond` (a normal answer), :meth:`endless` (a body that never ends, with or
    without a lying ``Content-Length``), :meth:`trickle` (a byte every ``delay`` seconds),
    :meth:`slow_headers`, :meth:`redirect` and :meth:`challenge` (a 401 with any
    ``WWW-Authenticate``); ``/v2/`` answers 200 unless a route says otherwise. The answers
    are written as raw bytes, so they can be as wrong as a
    hostile server's. Endless answers stop when the client goes away or :meth:`stop` is called.
    """

    def __init__(self) -> None:
        self.routes: List[Tuple[str, Any]] = []
        self.hits: List[str] = []
        self.stopping = threading.Event()
        self.bytes_sent = 0
        reg = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _go(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                reg.hits.append(f"{self.command} {self.path}")
                for key, behaviour in reversed(reg.routes):
                    if key in self.path:
                        try:
                            behaviour(self)
                        except OSError:  # the client gave up: that is the point
                            pass
                        return
                reg.raw(self, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _go

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        # a short poll interval: stop() (once per test) returns at once
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()
        # the lowest-priority answer: "I am a registry" (so the ping passes unless a test says otherwise)
        self.route("/v2/", self.respond(200, b"{}"))

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def route(self, substring: str, behaviour: Any) -> "HostileRegistry":
        self.routes.append((substring, behaviour))
        return self

    def raw(self, h: Any, data: bytes) -> None:
        h.wfile.write(data)
        h.wfile.flush()
        self.bytes_sent += len(data)

    # -- behaviours ---------------------------------------------------------------------------
    def respond(self, status: int = 200, body: bytes = b"", headers: Optional[Dict[str, str]] = None,
                content_length: Optional[int] = None) -> Any:
        def go(h: Any) -> None:
            hdrs = {"Content-Length": str(len(body) if content_length is None else content_length),
                    **(headers or {})}
            head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
            self.raw(h, head.encode("latin-1") + (b"" if h.command == "HEAD" else body))
            if content_length is not None:
                h.close_connection = True
        return go

    def endless(self, status: int = 200, headers: Optional[Dict[str, str]] = None,
                content_length: Optional[int] = None, chunk: bytes = b"0" * 65536) -> Any:
        """A body that never ends; ``content_length`` may announce a size (e.g. 10 GB)."""
        def go(h: Any) -> None:
            hdrs = dict(headers or {})
            if content_length is not None:
                hdrs["Content-Length"] = str(content_length)
            else:
                hdrs["Connection"] = "close"
            head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
            self.raw(h, head.encode("latin-1"))
            h.close_connection = True
            while not self.stopping.is_set():
                self.raw(h, chunk)
        return go

    def trickle(self, status: int = 200, length: int = 10 ** 6, delay: float = 0.3,
                headers: Optional[Dict[str, str]] = None, byte: bytes = b"{") -> Any:
        """A slowloris body: one byte every ``delay`` seconds."""
        def go(h: Any) -> None:
            hdrs = {"Content-Length": str(length), **(headers or {})}
            head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
            self.raw(h, head.encode("latin-1"))
            h.close_connection = True
            for _ in range(length):
                if self.stopping.wait(delay):
                    return
                self.raw(h, byte)
        return go

    def slow_headers(self, delay: float = 0.3) -> Any:
        """A status line, then a header that grows by a byte every ``delay`` seconds."""
        def go(h: Any) -> None:
            self.raw(h, b"HTTP/1.1 200 OK\r\nX-Slow: ")
            h.close_connection = True
            while not self.stopping.wait(delay):
                self.raw(h, b"a")
        return go

    def redirect(self, location: str, status: int = 307) -> Any:
        return self.respond(status, headers={"Location": location})

    def challenge(self, www_authenticate: str) -> Any:
        return self.respond(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}',
                            headers={"WWW-Authenticate": www_authenticate})

    def serve_image(self, manifest: bytes, media_type: str, blobs: Dict[str, bytes]) -> "HostileRegistry":
        """A repository whose every manifest is ``manifest`` and whose blobs are ``blobs``."""
        self.route("/v2/", self.respond(200, b"{}"))
        self.route("/manifests/", self.respond(200, manifest, {"Content-Type": media_type}))
        for digest, data in blobs.items():
            self.route(f"/blobs/{digest}", self.respond(200, data))
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
