# socketserver's ForkingMixIn over a UnixStreamServer (what Python 3.12
# names ForkingUnixStreamServer), in a process of its own: every
# connection is handled in a child forked for it, which inherits the
# accepted socket (the server closes its copy). The clients, threads of
# the first process, see each connection answered by one such child.
import os, socket, socketserver, tempfile, threading

NCLIENTS = 4

class ForkingUnixServer(socketserver.ForkingMixIn,
                        socketserver.UnixStreamServer):
    pass

class Upper(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"%s %d\n" % (line.strip().upper(), os.getpid()))

def client(addr, i, out):
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(addr)
        f = c.makefile("rwb")
        got = []
        for k in range(5):
            f.write(b"client %d line %d\n" % (i, k))
            f.flush()
            got.append(f.readline().split())
        f.close()
        out[i] = got

d = tempfile.mkdtemp()
addr = os.path.join(d, "forking.sock")
server = ForkingUnixServer(addr, Upper)
spid = os.fork()
if spid == 0:
    code = 1
    try:
        for _ in range(NCLIENTS):
            server.handle_request()
        server.server_close()	# waits for the children
        code = 0
    finally:
        os._exit(code)
server.socket.close()
out = {}
cs = [threading.Thread(target=client, args=(addr, i, out))
      for i in range(NCLIENTS)]
for c in cs: c.start()
for c in cs: c.join()
_, st = os.waitpid(spid, 0)
print("server exit", os.waitstatus_to_exitcode(st))
for i in range(NCLIENTS):
    lines = out[i]
    # One child answered every line of a connection; not a process here.
    pids = {int(l[-1]) for l in lines}
    print(i, b" ".join(lines[-1][:-1]).decode(),
          len(pids) == 1 and not pids & {os.getpid(), spid})
os.unlink(addr)
os.rmdir(d)
