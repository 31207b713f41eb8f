# A plain Python program for the benchmark's "ksock-run against native"
# rows: N one-byte round trips over an AF_UNIX socketpair in one thread
# (send on one end, receive on the other, and back), each byte checked.
# Prints "ok N SECONDS" (the loop alone) or "FAIL why".
import socket
import sys
import time


def main():
    n = int(sys.argv[1])
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    t0 = time.monotonic()
    for i in range(n):
        out = bytes([i & 0xFF])
        a.send(out)
        got = b.recv(1)
        if got != out:
            print("FAIL round trip %d: %r, want %r" % (i, got, out))
            return 1
        back = bytes([(i + 1) & 0xFF])
        b.send(back)
        if a.recv(1) != back:
            print("FAIL round trip %d: the reply" % i)
            return 1
    t1 = time.monotonic()
    a.close()
    b.close()
    print("ok %d %.9f" % (n, t1 - t0))
    return 0


sys.exit(main())
