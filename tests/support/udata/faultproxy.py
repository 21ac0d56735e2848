"""A fault-injecting HTTP proxy between the publisher and the udata test server.

It forwards every request to the upstream server unchanged (the Host header is rewritten, as udata
routes by SERVER_NAME), except the requests a rule matches, which get the rule's fault:

  status         answer `status` (500, 503, 423…) without forwarding: nothing was applied
  drop_upload    read part of the request body, then close the connection: nothing was applied
  lose_response  forward the request (the server applies it), then close the connection without
                 answering: applied, but the client cannot know
  stall          forward the request, then wait `seconds` before answering (past the client's timeout)
  corrupt        forward the request with one byte of its body changed (in its middle: the file's
                 content, for an upload), as a faulty network path or disk would

The test controls it through the proxy itself:
  PUT /__proxy__/rules   a JSON list of rules {method, path (a regular expression), fault, status,
                         seconds, skip (matching requests let through first), times (faults to inject)}
  GET /__proxy__/fired   the faults injected so far: [{method, path, fault}]

With a third argument RECORD_FILE, every request it receives is appended there (method, target,
headers, body), so a test can search all that was sent for secrets and canaries. The X-API-KEY
header, which legitimately carries the key to the platform, is recorded by name only.

usage: faultproxy.py UPSTREAM_BASE_URL INFO_JSON [RECORD_FILE]   (writes {"base_url", "pid"} when listening)
"""

import http.client
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
LOCK = threading.Lock()
RULES = []
FIRED = []
RECORD = sys.argv[3] if len(sys.argv) > 3 else None
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "content-length", "host"}


def matching_rule(method, path):
    """The rule that fires for this request, if any (counting skips and times under the lock)."""
    with LOCK:
        for rule in RULES:
            if rule.get("method", method) != method or not re.search(rule.get("path", ""), path):
                continue
            if rule.get("skip", 0) > 0:
                rule["skip"] -= 1
                continue
            if rule.get("times", 1) <= 0:
                continue
            rule["times"] = rule.get("times", 1) - 1
            FIRED.append({"method": method, "path": path, "fault": rule["fault"]})
            return dict(rule)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        sys.stderr.write("faultproxy: " + (format % args) + "\n")

    def read_body(self, limit=None):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
                if limit is not None and len(body) >= limit:
                    return body
        length = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(length if limit is None else min(limit, length))

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def drop(self):
        # No answer at all: the client sees the connection closed under it.
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def control(self):
        global RULES
        if self.command == "PUT" and self.path.startswith("/__proxy__/rules"):
            rules = json.loads(self.read_body() or b"[]")
            with LOCK:
                RULES = rules
            return self.reply(200, b"{}", [("Content-Type", "application/json")])
        if self.command == "GET" and self.path.startswith("/__proxy__/fired"):
            with LOCK:
                body = json.dumps(FIRED).encode()
            return self.reply(200, body, [("Content-Type", "application/json")])
        return self.reply(404, b"{}")

    def forward(self, body):
        connection = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = UPSTREAM.netloc
        headers["Content-Length"] = str(len(body))
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        out_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        connection.close()
        return response.status, data, out_headers

    def record(self, body):
        if RECORD is None:
            return
        headers = "".join(f"{k}: {'(sent)' if k.lower() == 'x-api-key' else v}\n" for k, v in self.headers.items())
        with LOCK, open(RECORD, "ab") as f:
            f.write(f"{self.command} {self.path}\n{headers}\n".encode() + body + b"\n\n")

    def handle_any(self):
        if self.path.startswith("/__proxy__/"):
            return self.control()
        path = urllib.parse.urlsplit(self.path).path
        rule = matching_rule(self.command, path)
        fault = rule and rule["fault"]
        if fault == "drop_upload":
            self.read_body(limit=max(1, int(self.headers.get("Content-Length", "2") or 2) // 2))
            return self.drop()
        body = self.read_body()
        self.record(body)
        if fault == "status":
            message = json.dumps({"message": f"injected {rule['status']}"}).encode()
            return self.reply(rule["status"], message, [("Content-Type", "application/json")])
        if fault == "corrupt" and body:
            body = bytearray(body)
            body[len(body) // 2] ^= 0x01
            body = bytes(body)
        status, data, headers = self.forward(body)
        if fault == "lose_response":
            return self.drop()
        if fault == "stall":
            time.sleep(rule.get("seconds", 5))
        try:
            self.reply(status, data, headers)
        except OSError:
            # The client gave up waiting (its timeout): nothing more to do.
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = handle_any


def main():
    info_path = sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = info_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"base_url": f"http://127.0.0.1:{server.server_address[1]}", "pid": os.getpid()}, f)
    os.replace(tmp, info_path)
    server.serve_forever()


if __name__ == "__main__":
    main()
