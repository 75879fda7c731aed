"""A remote's cookie jar: ``REPO/REMOTE.cookies.txt``, as ``ostree remote add-cookie``,
``delete-cookie`` and ``list-cookies`` keep it, and the ``Cookie`` header a pull sends.

Design. The jar is the Netscape/Mozilla text format that libcurl reads with
``CURLOPT_COOKIEFILE`` and libsoup with ``SoupCookieJarText``: one cookie a line, seven
tab-separated fields ``DOMAIN FLAG PATH SECURE EXPIRES NAME VALUE``. The format side
(:func:`parse_jar`, :meth:`Cookie.line`, :func:`cookie_header`) is pure text; the file side
(:func:`add_cookie`, :func:`delete_cookie`, :func:`read_jar`) is a thin layer over it.

What ostree does and we do too (``src/ostree/ot-remote-cookie-util.c``):

* ``add-cookie`` appends a line, FLAG ``TRUE`` only for a domain starting with ``.``, SECURE
  ``FALSE``, expiring 25 years from now; it never replaces an older cookie of the same name
  (the later line wins when the header is built, as in curl's jar).
* ``delete-cookie`` rewrites the jar without the lines matching DOMAIN, PATH and NAME (a
  whole-file replace through a temporary file). ostree sets "Cookie not found in jar" and
  still returns success; we raise :class:`CookieError` instead, the error its code meant.
* a line that does not scan as seven fields (a comment, a blank line) is skipped.
* the jar is read only, never written by a pull (ostree sets no ``CURLOPT_COOKIEJAR``).

Which cookies go with a request follows RFC 6265 as curl applies it: the host equals the
domain (or, FLAG ``TRUE`` / a leading dot, ends with ``.DOMAIN``), the request path is the
cookie's path or below it, a SECURE cookie only over https, an expired one (EXPIRES not 0 and
in the past) never.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, List, Optional, Sequence

import attrs

from ..errors import OstreeError
from .config import jar_path  # where the jar lives: the remote's configuration says it

if TYPE_CHECKING:
    import datetime

__all__ = ["Cookie", "CookieError", "parse_jar", "cookie_header", "jar_path", "read_jar",
           "add_cookie", "delete_cookie", "format_listing"]

#: ostree: g_date_time_add_years (now, 25)
EXPIRY_YEARS = 25


class CookieError(OstreeError):
    """A cookie jar that cannot be read or written, or a cookie that is not in it."""


@attrs.frozen
class Cookie:
    """One line of a cookie jar."""

    domain: str
    path: str
    name: str
    value: str
    secure: bool = False
    expires: int = 0
    #: the jar's second field: the cookie applies to subdomains too
    include_subdomains: bool = False
    #: the line as read (delete-cookie writes kept lines back unchanged)
    line: str = attrs.field(default="", eq=False)

    def to_line(self) -> str:
        # soup-cookie-jar-text.c write_cookie(), as ostree copies it
        return "\t".join((self.domain, "TRUE" if self.include_subdomains else "FALSE", self.path,
                          "TRUE" if self.secure else "FALSE", str(self.expires), self.name,
                          self.value)) + "\n"

    def matches(self, host: str, path: str, https: bool, now: float) -> bool:
        """Whether this cookie goes with a request to ``host`` for ``path``."""
        if self.secure and not https:
            return False
        if self.expires and self.expires < now:
            return False
        host = host.lower()
        domain = self.domain.lower()
        if domain.startswith("#httponly_"):
            domain = domain[len("#httponly_"):]
        tail = self.include_subdomains or domain.startswith(".")
        domain = domain.lstrip(".")
        if host != domain and not (tail and host.endswith("." + domain)):
            return False
        cpath = self.path or "/"
        if path == cpath or cpath == "/":
            return True
        return path.startswith(cpath if cpath.endswith("/") else cpath + "/")


def _scan(line: str) -> Optional[Cookie]:
    # ostree reads each line with sscanf("%ms\t%ms\t%ms\t%ms\t%llu\t%ms\t%ms"): fields are
    # runs of non-space, so a value with a space in it ends at the space
    fields = line.split()
    if len(fields) < 7 or not fields[4].isdigit():
        return None
    domain, flag, path, secure, expires, name, value = fields[:7]
    if domain.startswith("#") and not domain.startswith("#HttpOnly_"):
        return None
    return Cookie(domain=domain, path=path, name=name, value=value, secure=secure.upper() == "TRUE",
                  expires=int(expires), include_subdomains=flag.upper() == "TRUE", line=line)


def parse_jar(text: str) -> List[Cookie]:
    """The cookies of a jar's text, in file order; lines that are not cookies are skipped."""
    out = []
    for line in text.split("\n"):
        c = _scan(line)
        if c is not None:
            out.append(c)
    return out


def cookie_header(cookies: Sequence[Cookie], host: str, path: str, https: bool,
                  now: Optional[float] = None) -> Optional[str]:
    """The ``Cookie`` header value for a request, or None when no cookie applies. A name set
    twice is sent once, with the value of its last line."""
    t = time.time() if now is None else now
    chosen: dict = {}
    for c in cookies:
        if c.matches(host, path, https, t):
            chosen.pop((c.name, c.domain, c.path), None)
            chosen[(c.name, c.domain, c.path)] = c
    if not chosen:
        return None
    # RFC 6265 5.4: longer paths first
    ordered = sorted(chosen.values(), key=lambda c: -len(c.path))
    return "; ".join(f"{c.name}={c.value}" for c in ordered)


# ---------------------------------------------------------------- the file side


def read_jar(path: str) -> List[Cookie]:
    """The cookies of the jar at ``path``; none when it does not exist."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return parse_jar(f.read())
    except FileNotFoundError:
        return []
    except OSError as e:
        raise CookieError(f"{path}: {e.strerror}") from None


def add_cookie(path: str, domain: str, cookie_path: str, name: str, value: str,
               now: Optional[datetime.datetime] = None) -> Cookie:
    """Append a cookie to the jar at ``path`` (created 0644), as ``remote add-cookie``."""
    import datetime  # (not at a pull's start-up, which reads a jar only)
    t = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        expires = t.replace(year=t.year + EXPIRY_YEARS)
    except ValueError:  # 29 February, as GLib: the 28th
        expires = t.replace(year=t.year + EXPIRY_YEARS, day=28)
    cookie = Cookie(domain=domain, path=cookie_path, name=name, value=value, secure=False,
                    expires=int(expires.timestamp()), include_subdomains=domain.startswith("."))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(cookie.to_line())
    except OSError as e:
        raise CookieError(f"open({os.path.basename(path)}): {e.strerror}") from None
    return cookie


def delete_cookie(path: str, domain: str, cookie_path: str, name: str) -> int:
    """Remove every cookie matching ``domain``, ``cookie_path`` and ``name`` from the jar
    (other lines that scan as cookies are kept as they were; the rest are dropped, as ostree
    does); returns how many went. :class:`CookieError` when none matched."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    except OSError as e:
        raise CookieError(f"{path}: {e.strerror}") from None
    kept = []
    removed = 0
    for c in parse_jar(text):
        if c.domain == domain and c.path == cookie_path and c.name == name:
            removed += 1
            continue
        kept.append(c.line + "\n")
    d = os.path.dirname(path) or "."
    try:
        import tempfile  # only when a jar is written: every pull imports this module
        fd, tmp = tempfile.mkstemp(prefix=".cookies-", dir=d)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("".join(kept))
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        raise CookieError(f"{path}: {e.strerror}") from None
    if not removed:
        raise CookieError("Cookie not found in jar")
    return removed


def format_listing(cookies: Sequence[Cookie]) -> str:
    """``remote list-cookies`` output: a block per cookie, as ot_list_cookies_at prints it."""
    import datetime
    out = []
    for c in cookies:
        out.append("--\n")
        out.append(f"Domain: {c.domain}\n")
        out.append(f"Path: {c.path}\n")
        out.append(f"Name: {c.name}\n")
        out.append(f"Secure: {'TRUE' if c.secure else 'FALSE'}\n")
        try:
            when = datetime.datetime.fromtimestamp(c.expires, datetime.timezone.utc)
            out.append(when.strftime("Expires: %Y-%m-%d %H:%M:%S +0000\n"))
        except (OverflowError, OSError, ValueError):
            pass
        out.append(f"Value: {c.value}\n")
    return "".join(out)
