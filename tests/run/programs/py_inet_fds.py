# An accepted TCP connection passed over a socketpair with SCM_RIGHTS and
# used on the other side, dup'ed, and waited for with epoll beside a
# pipe: the descriptor calls of docs/ksock-run.md on an Internet socket.
# ksock-run: --inet=loopback
import os, socket, select
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4)
c = socket.create_connection(srv.getsockname())
a, _ = srv.accept()
p, q = socket.socketpair()
socket.send_fds(p, [b"x"], [a.fileno()])
msg, fds, flags, addr = socket.recv_fds(q, 10, 4)
a.close()
b = socket.socket(fileno=fds[0])
c.sendall(b"hello")
print(msg, b.family == socket.AF_INET, b.recv(10))
d = b.dup(); d.sendall(b"back"); print(c.recv(10))
r, w = os.pipe(); os.write(w, b"p")
ep = select.epoll(); ep.register(c.fileno(), select.EPOLLIN); ep.register(r, select.EPOLLIN)
print(sorted(fd == r for fd, ev in ep.poll(30)))
b.sendall(b"z")
print(sorted(fd == r for fd, ev in ep.poll(30)))
for s in (b, d, c, srv, p, q): s.close()
os.close(r); os.close(w); ep.close()
print("done")
