# One listener, three forked workers accepting on it (os.fork: each
# worker inherits the listening socket); the parent opens twelve
# connections, every one is served by some worker, then one "quit" per
# worker ends them. Each worker's exit status is the number it served.
import os, socket, tempfile

NWORKERS, NCONNS = 3, 12

def worker(lst):
    served = 0
    while True:
        conn, _ = lst.accept()
        with conn:
            line = conn.makefile("rb").readline().strip()
            if line == b"quit":
                return served
            conn.sendall(b"%s by %d\n" % (line.upper(), os.getpid()))
            served += 1

d = tempfile.mkdtemp()
addr = os.path.join(d, "workers.sock")
lst = socket.socket(socket.AF_UNIX)
lst.bind(addr)
lst.listen(NCONNS + NWORKERS)
pids = []
for _ in range(NWORKERS):
    pid = os.fork()
    if pid == 0:
        code = 100
        try:
            code = worker(lst)
        finally:
            os._exit(code)
    pids.append(pid)
lst.close()

conns = []
for i in range(NCONNS):
    c = socket.socket(socket.AF_UNIX)
    c.connect(addr)
    c.sendall(b"request %d\n" % i)
    conns.append(c)
for i, c in enumerate(conns):
    words = c.makefile("rb").readline().split()
    c.close()
    print(b" ".join(words[:2]).decode(), int(words[3]) in pids)
for _ in range(NWORKERS):
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(addr)
        c.sendall(b"quit\n")
total = 0
for pid in pids:
    _, st = os.waitpid(pid, 0)
    total += os.waitstatus_to_exitcode(st)
print("workers", len(pids), "served", total)
os.unlink(addr)
os.rmdir(d)
