# An HTTP server and its clients in one process, over TCP on 127.0.0.1
# and ::1: http.server's threading server (its serve_forever waits in a
# selector), urllib and http.client in several threads, GET and POST,
# keep-alive, a body of 1 MiB checked by hash, a 404; then a UDP echo
# waited for with select(), and an asyncio (epoll) echo server and
# clients.
# Prints nothing that depends on ports or timing, so the output natively
# and under ksock-run --inet=loopback must be the same.
# ksock-run: --inet=loopback
import asyncio
import hashlib
import http.client
import http.server
import select
import socket
import threading
import urllib.error
import urllib.request

BIG = bytes((i * 7 + 3) & 0xFF for i in range(1 << 20))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/big":
            self.reply(200, BIG)
        elif self.path.startswith("/hello/"):
            self.reply(200, b"hello " + self.path[7:].encode())
        else:
            self.reply(404, b"no such page")

    def do_POST(self):
        n = int(self.headers["Content-Length"])
        body = self.rfile.read(n)
        self.reply(200, hashlib.sha256(body).hexdigest().encode())


class Server4(http.server.ThreadingHTTPServer):
    # Room for every client at once: ksock's TCP (lwIP) resets a
    # connection that finds the backlog full where Linux makes the
    # client retry (docs/inet.md).
    request_queue_size = 16


class Server6(Server4):
    address_family = socket.AF_INET6


def fetch(base, i, out):
    with urllib.request.urlopen("%s/hello/%d" % (base, i), timeout=30) as r:
        out[i] = (r.status, r.read())


def exercise(kind, server_class, host):
    srv = server_class((host, 0), Handler)
    port = srv.server_address[1]
    st = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1})
    st.start()
    base = "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)
    out = {}
    ts = [threading.Thread(target=fetch, args=(base, i, out)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(kind, "gets", [out[i] for i in range(8)][:3], len(out))

    # One connection, several requests (keep-alive), then a 404.
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request("GET", "/big")
    r = c.getresponse()
    body = r.read()
    print(kind, "big", r.status, len(body),
          hashlib.sha256(body).hexdigest() == hashlib.sha256(BIG).hexdigest())
    c.request("POST", "/post", body=BIG[:300000])
    r = c.getresponse()
    print(kind, "post", r.status,
          r.read() == hashlib.sha256(BIG[:300000]).hexdigest().encode())
    try:
        urllib.request.urlopen(base + "/missing", timeout=30)
        print(kind, "missing: no error")
    except urllib.error.HTTPError as e:
        print(kind, "missing", e.code, e.read())
    c.close()
    srv.shutdown()
    srv.server_close()
    st.join()


def udp_echo(kind, family, host):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 0))
    c = socket.socket(family, socket.SOCK_DGRAM)
    c.settimeout(30)
    s.settimeout(30)
    got = []
    for size in (1, 1000, 8000):
        c.sendto(b"u" * size, s.getsockname())
        r, _, _ = select.select([s, c], [], [], 30)
        data, addr = s.recvfrom(65536)
        s.sendto(data.upper(), addr)
        reply, frm = c.recvfrom(65536)
        got.append((len(data), reply[:3], frm == s.getsockname(), r == [s]))
    print(kind, "udp", got)
    s.close()
    c.close()


exercise("v4", Server4, "127.0.0.1")
exercise("v6", Server6, "::1")


async def aio_echo(kind, host):
    async def handle(reader, writer):
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    srv = await asyncio.start_server(handle, host, 0)
    port = srv.sockets[0].getsockname()[1]

    async def client(i):
        reader, writer = await asyncio.open_connection(host, port)
        got = []
        for k in range(10):
            writer.write(b"client %d line %d\n" % (i, k))
            await writer.drain()
            got.append(await reader.readline())
        writer.close()
        await writer.wait_closed()
        return got

    res = await asyncio.gather(*(client(i) for i in range(6)))
    srv.close()
    await srv.wait_closed()
    print(kind, "asyncio", [len(r) for r in res], res[5][9])


udp_echo("v4", socket.AF_INET, "127.0.0.1")
udp_echo("v6", socket.AF_INET6, "::1")
asyncio.run(aio_echo("v4", "127.0.0.1"))
asyncio.run(aio_echo("v6", "::1"))
