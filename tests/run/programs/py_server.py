# A threaded echo server on a path and on an abstract name, several
# clients each.
import os, socket, tempfile, threading

def serve(srv, n):
    def one(conn):
        with conn:
            while True:
                data = conn.recv(1024)
                if not data:
                    return
                conn.sendall(data.upper())
    threads = []
    for _ in range(n):
        conn, _ = srv.accept()
        t = threading.Thread(target=one, args=(conn,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()

def client(addr, i, out):
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(addr)
        got, want = b"", 0
        for k in range(20):
            msg = b"client %d message %d;" % (i, k)
            c.sendall(msg)
            want += len(msg)
            while len(got) < want:
                got += c.recv(4096)
        out[i] = got

d = tempfile.mkdtemp()
for addr in (os.path.join(d, "sock"), "\0ksock-run-test-%d" % os.getpid()):
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(addr)
    srv.listen(8)
    n = 6
    st = threading.Thread(target=serve, args=(srv, n))
    st.start()
    out = {}
    cs = [threading.Thread(target=client, args=(addr, i, out)) for i in range(n)]
    for t in cs: t.start()
    for t in cs: t.join()
    st.join()
    kind = "abstract" if addr.startswith("\0") else "path"
    print(kind, srv.getsockname() == addr or srv.getsockname() == addr.encode(),
          [len(out[i]) for i in range(n)])
    print(kind, out[3][:40])
    srv.close()
os.unlink(os.path.join(d, "sock"))
os.rmdir(d)
