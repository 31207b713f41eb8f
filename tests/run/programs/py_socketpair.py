# socketpair of every type: data both ways, records, shutdown, makefile.
import socket

for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    a.sendall(b"hello")
    print(kind.name, b.recv(100))
    b.send(b"back")
    print(kind.name, a.recv(100))
    print(kind.name, "type", a.type.name, "family", a.family.name)
    a.close(); b.close()

a, b = socket.socketpair()
a.sendall(b"line one\nline two\n")
a.shutdown(socket.SHUT_WR)
with b.makefile("rb") as f:
    print(f.readlines())
b.settimeout(0.2)
try:
    a.recv(1, socket.MSG_DONTWAIT)
except BlockingIOError as e:
    print("nonblocking recv:", e.errno)
a.close()
print("after close:", b.recv(10))
b.close()
