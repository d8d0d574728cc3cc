import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

const MAX_BODY = 64 * 1024;
const JOB_PATH = /^\/jobs\/([0-9]{1,12})$/;

/**
 * Where the testbed's jobs report what they saw. The jobs run inside the VMs,
 * whose disks go away with them and share no file system with the frontend
 * (a real site would give them a shared home); so each job POSTs its output
 * lines to http://FRONTEND:PORT/jobs/JOB_ID and they land in DIR/JOB_ID.out
 * (each POST one line).
 */
export function startJobOutputCollector(dir: string, host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const id = JOB_PATH.exec(req.url ?? '')?.[1];
    if (req.method !== 'POST' || id === undefined) {
      res.writeHead(404).end('POST /jobs/JOB_ID\n');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) {
        res.writeHead(413).end(`at most ${MAX_BODY} bytes\n`);
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      // One report per line, whatever the job sent.
      writeFile(path.join(dir, `${id}.out`), body.endsWith('\n') ? body : `${body}\n`, { flag: 'a' }).then(
        () => res.writeHead(204).end(),
        (e: Error) => res.writeHead(500).end(`${e.message}\n`),
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
