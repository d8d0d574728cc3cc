import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';

/** How a test reaches the console: the site CA always; a client certificate, a token or a cookie when it says so. */
export interface ConsoleCaller {
  ca: string;
  cert?: { cert: string; key: string };
  token?: string;
  cookie?: string;
}

/** One answer of the console. */
export interface ConsoleAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

function options(port: number, path: string, who: ConsoleCaller, method: string): https.RequestOptions {
  const headers: Record<string, string> = {};
  if (who.token) headers['authorization'] = `Bearer ${who.token}`;
  if (who.cookie) headers['cookie'] = who.cookie;
  return {
    host: '127.0.0.1', port, path, method, headers, ca: readFileSync(who.ca),
    ...(who.cert ? { cert: readFileSync(who.cert.cert), key: readFileSync(who.cert.key) } : {}),
    agent: false,
  };
}

/** A request to the console over HTTPS, verifying its certificate against the site CA. */
export function consoleRequest(port: number, path: string, who: ConsoleCaller, method = 'GET', body?: string): Promise<ConsoleAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(options(port, path, who, method), (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.setHeader('content-type', 'application/json');
    req.end(body);
  });
}

/** An open /api/events stream: the events parsed so far, the raw chunks' count, and close(). */
export interface ConsoleEvents {
  events: Array<Record<string, unknown>>;
  chunks: number;
  status: number;
  close(): void;
}

/** Opens the console's server-sent event stream; resolves once the answer's headers arrived. */
export function openConsoleEvents(port: number, who: ConsoleCaller): Promise<ConsoleEvents> {
  return new Promise((resolve, reject) => {
    const req = https.request(options(port, '/api/events', who, 'GET'), (res) => {
      const stream: ConsoleEvents = { events: [], chunks: 0, status: res.statusCode ?? 0, close: () => req.destroy() };
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        stream.chunks++;
        buffered += chunk;
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const message = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = message.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) stream.events.push(JSON.parse(data) as Record<string, unknown>);
        }
      });
      res.on('error', () => undefined);
      resolve(stream);
    });
    req.on('error', (e) => (e.message === 'socket hang up' ? undefined : reject(e)));
    req.end();
  });
}
