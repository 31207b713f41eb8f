# SCM_RIGHTS: a pipe, a file and a socket through socket.send_fds/recv_fds.
import os, socket, tempfile

a, b = socket.socketpair()
r, w = os.pipe()
tmp = tempfile.TemporaryFile()
x, y = socket.socketpair()
socket.send_fds(a, [b"three fds"], [w, tmp.fileno(), x.fileno()])
msg, fds, flags, addr = socket.recv_fds(b, 100, 3)
print(msg, len(fds), flags)
os.write(fds[0], b"through the pipe")
print(os.read(r, 100))
os.write(fds[1], b"into the file")
tmp.seek(0)
print(tmp.read())
s = socket.socket(fileno=fds[2])
s.sendall(b"through the passed socket")
print(y.recv(100))
print(sorted(os.path.samestat(os.fstat(fds[i]), os.fstat(o))
             for i, o in enumerate([w, tmp.fileno()])))
for fd in fds[:2]:
    os.close(fd)
s.close(); x.close(); y.close(); a.close(); b.close()
os.close(r); os.close(w); tmp.close()
