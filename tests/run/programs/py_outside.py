# Sends to a datagram name that a process outside ksock bound (a daemon's
# notify socket, say): systemd-notify, nc -uU and socat, and Python's own
# sendto/sendmsg from an unnamed and from a named socket, and a connect.
# Under ksock-run the sends reach the kernel's socket through the
# library's fallback; natively they are plain sends. The receiver runs
# without the preload library, as a daemon would.
import os
import socket
import subprocess
import sys
import tempfile

RECEIVER = r'''
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(10)
print("ready", flush=True)
for i in range(int(sys.argv[2])):
    data, addr = s.recvfrom(200)
    print("got", data, "from", "named" if addr else "unnamed", flush=True)
'''

def main():
    d = tempfile.mkdtemp()
    path = os.path.join(d, "notify")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    rx = subprocess.Popen([sys.executable, "-c", RECEIVER, path, "7"],
                          env=env, stdout=subprocess.PIPE, text=True)
    assert rx.stdout.readline() == "ready\n"
    run = lambda argv, data=None, **kw: subprocess.run(
        argv, input=data, check=True, **kw)
    run(["systemd-notify", "--no-block", "--ready", "STATUS=up"],
        env=dict(os.environ, NOTIFY_SOCKET=path))
    run(["nc", "-uU", "-w1", path], b"hello from nc\n")
    run(["socat", "-", "UNIX-SENDTO:" + path], b"hello from socat\n")

    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    print("sendto", s.sendto(b"unnamed sendto", path))
    print("sendmsg", s.sendmsg([b"unnamed ", b"sendmsg"], [], 0, path))
    s.close()
    b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.bind(os.path.join(d, "me"))
    print("named sendto", b.sendto(b"named sendto", path))
    b.close()
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    c.connect(path)
    print("connected send", c.send(b"connected send"))
    c.close()
    out, _ = rx.communicate(timeout=20)
    print(out, end="")
    print("receiver exit", rx.returncode)
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))
    os.rmdir(d)

main()
