# Sockets a parent hands to a child started with subprocess (which on
# Python >= 3.10 starts it with vfork and exec when it can): one
# socketpair end as the child's stdin (stdin=sock), another socket kept
# at its number (pass_fds), and one the child must not have (neither
# passed nor inheritable). The child reads a line from its stdin and
# answers on the passed socket; the parent sees the answer, then end of
# file on both once the child is gone, and end of file on the third
# socket as soon as it closes its own end, while the child still runs.
# The vfork child looks for python3 along a PATH whose first directory
# does not have it (an exec that fails first: it must hold nothing).
# Then the same with close_fds=False and no pass_fds, which Python runs
# with posix_spawn.
import os, select, socket, subprocess, sys, tempfile

CHILD = r'''
import os, socket, sys
fd = int(sys.argv[1])
line = sys.stdin.buffer.readline()
with socket.socket(fileno=fd) as s:
    s.sendall(b"got " + line)
'''

def eof_within(sock, seconds):
    r, _, _ = select.select([sock], [], [], seconds)
    return bool(r) and sock.recv(1) == b""

def run(label, **kw):
    a0, a1 = socket.socketpair()
    b0, b1 = socket.socketpair()
    c0, c1 = socket.socketpair()
    b1.set_inheritable(True)
    pass_fds = kw.pop("pass_fds", None)
    if pass_fds is not None:
        pass_fds = [b1.fileno()]
    exe = kw.pop("exe", sys.executable)
    p = subprocess.Popen([exe, "-c", CHILD, str(b1.fileno())],
                         stdin=a1, pass_fds=pass_fds or (), **kw)
    a1.close(); b1.close(); c1.close()
    # The child cannot hold c1 (not inheritable): its peer ends at once.
    print(label, "unpassed socket ends", eof_within(c0, 10))
    a0.sendall(b"hello\n")
    print(label, "answer", b0.recv(100).decode().strip())
    print(label, "status", p.wait(60))
    print(label, "ends after the child", eof_within(b0, 10))
    for s in (a0, b0, c0):
        s.close()

path = os.pathsep.join([tempfile.mkdtemp(), os.path.dirname(sys.executable)])
try:
    run("vfork", pass_fds=True, exe=os.path.basename(sys.executable),
        env=dict(os.environ, PATH=path))
finally:
    os.rmdir(path.split(os.pathsep)[0])
run("spawn", close_fds=False)
