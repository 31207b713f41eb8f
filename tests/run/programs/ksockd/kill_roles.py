# The processes of run-ksockd.sh's killed_* cases: kill_roles.py ROLE
# SOCK DIR. One of each pair is killed with SIGKILL in its blocking call;
# the other prints what it sees afterwards, which must be what Linux
# shows. Files in DIR order the steps: "ready" (the listener listens),
# "mid" (the peer has seen the victim reach its blocking call's eve),
# "go" (the victim is dead: the peer goes on).
import errno, os, socket, sys, time

role, path, d = sys.argv[1:4]

def mark(name):
    open(os.path.join(d, name), "w").close()

def wait_mark(name):
    for _ in range(1200):
        if os.path.exists(os.path.join(d, name)):
            return
        time.sleep(0.05)
    sys.exit("no " + name)

def listen():
    lst = socket.socket(socket.AF_UNIX)
    lst.bind(path)
    lst.listen(4)
    mark("ready")
    return lst

def connect():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s

def outcome(call):
    try:
        r = call()
    except OSError as e:
        return errno.errorcode[e.errno]
    return "EOF" if r == b"" else repr(r)

if role == "fd-sender":		# victim: dies waiting on its own pair
    c = connect()
    a, b = socket.socketpair()
    socket.send_fds(c, [b"f"], [b.fileno()])
    b.close()
    a.recv(1)
elif role == "fd-receiver":	# peer: receives the dead one's socket
    lst = listen()
    c, _ = lst.accept()
    mark("mid")
    wait_mark("go")
    msg, fds, flags, _ = socket.recv_fds(c, 16, 4)
    print("message", msg, "descriptors", len(fds), "flags", flags)
    with socket.socket(fileno=fds[0]) as p:
        print("passed socket:", outcome(lambda: p.recv(1)))
    print("connection:", outcome(lambda: c.recv(1)))
    c.close()
    lst.close()
    os.unlink(path)
elif role == "acceptor":	# victim: dies in accept, one connection unread
    lst = listen()
    c, _ = lst.accept()
    c.sendall(b"r")
    lst.accept()
elif role == "connector":	# peer: the connection the acceptor held
    c = connect()
    c.sendall(b"x")
    print("from acceptor:", c.recv(1))
    mark("mid")
    wait_mark("go")
    print("recv:", outcome(lambda: c.recv(1)))
    print("recv:", outcome(lambda: c.recv(1)))
    print("send:", outcome(lambda: c.send(b"y")))
    with socket.socket(socket.AF_UNIX) as n:
        print("new connect:", outcome(lambda: n.connect(path)))
    c.close()
    os.unlink(path)
else:
    sys.exit("unknown role " + role)
