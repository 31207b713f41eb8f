// Node.js (libuv closes descriptors with syscall(SYS_close)): a server and
// a client over a path name; the client closes its end, the server must
// see the end of the stream, and a file opened afterwards must read as
// that file, whatever number it got.
'use strict';
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ksock-js-'));
const sock = path.join(dir, 's');
const file = path.join(dir, 'f');
fs.writeFileSync(file, 'contents of the file\n');

const server = net.createServer((conn) => {
  let got = '';
  conn.on('data', (d) => { got += d; });
  conn.on('end', () => {
    console.log('server got', JSON.stringify(got), 'then end');
    conn.end();
    server.close(() => after());
  });
});

function after() {
  // The numbers the sockets had are free again: files get them.
  for (let i = 0; i < 4; i++) {
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(64);
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    console.log('read', n, JSON.stringify(buf.toString('utf8', 0, n)));
    fs.closeSync(fd);
  }
  fs.rmSync(dir, { recursive: true });
}

server.listen(sock, () => {
  const c = net.createConnection(sock, () => {
    c.write('hello from the client');
    c.end();
  });
  c.on('close', () => console.log('client closed'));
});
