# selectors (epoll), select.poll and select.select over sockets and a
# pipe in one set.
import os, select, selectors, socket

pairs = [socket.socketpair() for _ in range(4)]
r, w = os.pipe()
sel = selectors.DefaultSelector()
print(type(sel).__name__)
for i, (a, b) in enumerate(pairs):
    b.setblocking(False)
    sel.register(b, selectors.EVENT_READ, i)
sel.register(r, selectors.EVENT_READ, "pipe")
pairs[2][0].send(b"x")
os.write(w, b"y")
print(sorted(str(k.data) for k, ev in sel.select(1)))
pairs[2][1].recv(1)
os.read(r, 1)
print(sel.select(0))
pairs[0][0].close()
print(sorted((str(k.data), ev) for k, ev in sel.select(1)))
sel.close()

p = select.poll()
a, b = pairs[1]
p.register(b, select.POLLIN)
p.register(w, select.POLLOUT)
print(sorted((fd == w, ev) for fd, ev in p.poll(100)))
a.send(b"z")
print(sorted((fd == w, ev) for fd, ev in p.poll(100)))
rl, wl, xl = select.select([b, r], [a], [], 1)
print(len(rl), len(wl), len(xl), rl[0] is b)

ep = select.epoll()
ep.register(b.fileno(), select.EPOLLIN | select.EPOLLET)
print(ep.poll(0.1))
print(ep.poll(0.1))
a.send(b"more")
print(ep.poll(0.1))
ep.close()
for a, b in pairs:
    a.close(); b.close()
os.close(r); os.close(w)
