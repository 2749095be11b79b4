/** `GET /healthz` → 200 `flanneld is running`; anything else 404 (FLANNEL.md §3). */
import http from 'node:http';

export function startHealthz(ip: string, port: number, onError: (e: Error) => void): http.Server {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('flanneld is running');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('404 page not found\n');
  });
  server.on('error', onError);
  server.listen(port, ip);
  server.unref();
  return server;
}
