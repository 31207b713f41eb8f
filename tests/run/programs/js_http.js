// An HTTP server and client in one Node.js process (libuv: epoll, and
// close through syscall(SYS_close)) over 127.0.0.1 and ::1.
// ksock-run: --inet=loopback
const http = require('http');
const crypto = require('crypto');

const big = Buffer.alloc(1 << 20, 'k');
function hash(b) { return crypto.createHash('sha256').update(b).digest('hex'); }

function get(host, port, path) {
  return new Promise((resolve, reject) => {
    http.get({ host, port, path, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve([res.statusCode, Buffer.concat(chunks)]));
    }).on('error', reject);
  });
}

async function exercise(kind, host) {
  const srv = http.createServer((req, res) => {
    if (req.url === '/big') { res.end(big); return; }
    res.end('hello ' + req.url);
  });
  await new Promise((r) => srv.listen(0, host, 511, r));
  const port = srv.address().port;
  const small = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => get(host, port, '/' + i)));
  console.log(kind, small.map(([s, b]) => s + ' ' + b.toString()).join(', '));
  const [st, body] = await get(host, port, '/big');
  console.log(kind, 'big', st, body.length, hash(body) === hash(big));
  await new Promise((r) => srv.close(r));
}

(async () => {
  await exercise('v4', '127.0.0.1');
  await exercise('v6', '::1');
})();
