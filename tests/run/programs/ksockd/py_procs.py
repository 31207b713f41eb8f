# A server and its clients in separate processes: the server is a
# multiprocessing.Process (forked) listening with multiprocessing's
# AF_UNIX Listener; each client is a new python3 started with subprocess
# that talks to it through multiprocessing's Client. Under
# ksock-run --ksockd every one of those processes is a client of one
# ksockd, which is where they meet.
import hashlib, os, subprocess, sys, tempfile
import multiprocessing as mp
from multiprocessing.connection import Client, Listener

NCLIENTS = 3

def payload(i):
    # 200,000 bytes: more than one of ksockd's windows is not needed for
    # a message, but the Connection protocol's length prefix and body
    # must arrive whole.
    return bytes((k * 7 + i) & 0xff for k in range(200000))

def serve(addr, ready):
    with Listener(addr, family="AF_UNIX") as lst:
        ready.set()
        for _ in range(NCLIENTS):
            with lst.accept() as conn:
                i, data = conn.recv()
                conn.send_bytes(b"%d %d %s" % (
                    i, len(data), hashlib.sha256(data).hexdigest().encode()))
                conn.send(("pid", os.getpid()))

def client(addr, i):
    with Client(addr, family="AF_UNIX") as conn:
        conn.send((i, payload(i)))
        line = conn.recv_bytes().decode()
        _, srv = conn.recv()
    # The server is another process than this one and than the parent.
    print("client", i, line == "%d 200000 %s" % (
        i, hashlib.sha256(payload(i)).hexdigest()),
          srv != os.getpid() and srv != os.getppid())

if len(sys.argv) == 4 and sys.argv[1] == "client":
    client(sys.argv[2], int(sys.argv[3]))
    sys.exit(0)

ctx = mp.get_context("fork")
d = tempfile.mkdtemp()
addr = os.path.join(d, "mp.sock")
ready = ctx.Event()
srv = ctx.Process(target=serve, args=(addr, ready))
srv.start()
ready.wait(60)
outs = []
for i in range(NCLIENTS):
    p = subprocess.run([sys.executable, __file__, "client", addr, str(i)],
                       capture_output=True, timeout=120)
    outs.append(p.stdout.decode())
    print("client", i, "exit", p.returncode)
srv.join(120)
print("".join(outs), end="")
print("server exit", srv.exitcode)
# The Listener removed its node when it closed.
print("node left", os.path.exists(addr))
os.rmdir(d)
