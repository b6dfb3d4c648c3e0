"""The git baseline of bench/git.py: ``git http-backend`` (CGI) behind a small threaded HTTP/1.1 server.

``python bench/githttp.py --root DIR --port N`` serves the bare repositories under ``DIR`` the way a
plain git server does (Apache or nginx + fcgiwrap + ``git http-backend``): one CGI process per request,
the request body piped in (``Content-Length`` or chunked), the CGI output streamed out with chunked
encoding on kept-alive connections. It asks for HTTP Basic credentials (and accepts any) so that git's
round trips match those of a private Dockyard project: the first request of each git command is
answered 401, then git repeats it with the credentials of the remote URL.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO
from urllib.parse import urlsplit

CHUNK = 64 * 1024


class GitHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "git-http-backend-bench"
    root = "."

    def log_message(self, format: str, *args: object) -> None:  # the base class's name
        pass

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        if not self.headers.get("Authorization", "").startswith("Basic "):
            self._drain()
            body = b"credentials, please\n"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="bench"')
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        url = urlsplit(self.path)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": self.root,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "REMOTE_USER": "bench",
            "REMOTE_ADDR": self.client_address[0],
            "SERVER_PROTOCOL": "HTTP/1.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
        }
        for header, var in (
            ("Content-Type", "CONTENT_TYPE"),
            ("Content-Length", "CONTENT_LENGTH"),
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
        ):
            if value := self.headers.get(header):
                env[var] = value
        proc = subprocess.Popen(
            ["git", "http-backend"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        assert proc.stdin is not None and proc.stdout is not None
        feeder = threading.Thread(target=self._feed, args=(proc.stdin,), daemon=True)
        feeder.start()
        try:
            self._respond(proc.stdout)
        finally:
            feeder.join()
            proc.stdout.close()
            proc.wait()

    def _feed(self, stdin: IO[bytes]) -> None:
        try:
            for chunk in self._request_body():
                stdin.write(chunk)
        except BrokenPipeError:
            pass  # http-backend stopped reading: its answer says why
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    def _request_body(self) -> Iterator[bytes]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self._counted(length)

    def _counted(self, length: int) -> Iterator[bytes]:
        while length > 0:
            chunk = self.rfile.read(min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk

    def _chunked(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            remaining = size
            while remaining:
                chunk = self.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk
            self.rfile.readline()

    def _drain(self) -> None:
        for _ in self._request_body():
            pass

    def _respond(self, out: IO[bytes]) -> None:
        status = 200
        headers: list[tuple[str, str]] = []
        while True:
            line = out.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            value = value.strip()
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while chunk := out.read(CHUNK):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="directory holding the bare repositories")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if shutil.which("git") is None:
        raise SystemExit("git is not installed")
    GitHandler.root = os.path.abspath(args.root)
    server = ThreadingHTTPServer((args.host, args.port), GitHandler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
