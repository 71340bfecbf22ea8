#!/usr/bin/env python3
"""A small HTTP/1.1 peer for the HTTP client's tests (keep-alive, optional TLS).

    http_test_server.py --port-file FILE [--tls CERT KEY]

/echo            the request back as JSON (method, path, headers, body)
/status/NNN      that status
/slow?ms=N       answers after N ms
/drop            closes the connection without answering (a lost response)
/redirect?to=U   302 to U (?code=307: that status instead)
/_stats          {"connections": accepted TCP connections so far}
HEAD (any path)  the headers of a two-byte answer, no body
"""
import argparse, json, socket, ssl, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

connections = 0
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global connections
        with lock:
            connections += 1
        super().setup()

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/echo":
            self.reply(200, {"method": self.command, "path": self.path,
                             "headers": {k.lower(): v for k, v in self.headers.items()},
                             "body": body.decode("utf-8", "replace")},
                       [("client-request-id", self.headers.get("client-request-id", ""))])
        elif url.path.startswith("/status/"):
            self.reply(int(url.path.split("/")[2]), {"status": int(url.path.split("/")[2])}, [("Retry-After", "7")])
        elif url.path == "/slow":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
            self.reply(200, {"slept": True})
        elif url.path == "/drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif url.path == "/redirect":
            self.reply(int(query.get("code", ["302"])[0]), {}, [("Location", query["to"][0])])
        elif url.path == "/_stats":
            with lock:
                self.reply(200, {"connections": connections})
        else:
            self.reply(404, {"error": "not found"})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any

    def do_HEAD(self):
        # Any path: the headers of a two-byte JSON answer, and no body (a client that waits for one hangs).
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args()
    ThreadingHTTPServer.request_queue_size = 512  # the default backlog of 5 drops SYNs under a burst
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls[0], args.tls[1])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
