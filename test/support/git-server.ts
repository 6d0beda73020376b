// Real Git repositories for install tests, served over HTTP on 127.0.0.1 the way a Git
// host serves them: smart HTTP through `git http-backend` (CGI), dumb HTTP as static files
// after `git update-server-info`, or a server that accepts requests and never answers.
import { execFile, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Git as the tests run it: no user or system configuration, a fixed identity. */
const GIT_ENV = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: tmpdir(),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.invalid',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.invalid',
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd, env: GIT_ENV, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** Path → contents, or the target of a symbolic link. */
export type Files = Record<string, string | Uint8Array | { symlink: string }>;

/**
 * A bare repository `<name>.git` under the server's project root, filled through a work
 * tree next to it.
 */
export class TestRepo {
  private constructor(
    readonly bareDir: string,
    private readonly workDir: string,
  ) {}

  static async create(projectRoot: string, name: string): Promise<TestRepo> {
    const bareDir = path.join(projectRoot, `${name}.git`);
    const workDir = await mkdtemp(path.join(tmpdir(), 'pk-git-work-'));
    await mkdir(projectRoot, { recursive: true });
    await git(projectRoot, 'init', '--quiet', '--bare', '--initial-branch=main', bareDir);
    await git(workDir, 'init', '--quiet', '--initial-branch=main');
    await git(workDir, 'remote', 'add', 'origin', bareDir);
    return new TestRepo(bareDir, workDir);
  }

  /** Writes the files (replacing what the branch had: a snapshot), commits, pushes; the commit's SHA. */
  async commit(files: Files, message = 'commit'): Promise<string> {
    await git(this.workDir, 'rm', '-r', '--quiet', '--ignore-unmatch', '--', '.');
    for (const [name, contents] of Object.entries(files)) {
      const file = path.join(this.workDir, name);
      await mkdir(path.dirname(file), { recursive: true });
      if (typeof contents === 'object' && 'symlink' in contents) await symlink(contents.symlink, file);
      else await writeFile(file, contents);
    }
    await git(this.workDir, 'add', '--all');
    await git(this.workDir, 'commit', '--quiet', '--allow-empty', '-m', message);
    await git(this.workDir, 'push', '--quiet', 'origin', 'HEAD');
    await git(this.bareDir, 'update-server-info');
    return git(this.workDir, 'rev-parse', 'HEAD');
  }

  async tag(name: string): Promise<void> {
    await git(this.workDir, 'tag', '-a', '-m', name, name);
    await git(this.workDir, 'push', '--quiet', 'origin', `refs/tags/${name}`);
    await git(this.bareDir, 'update-server-info');
  }

  /** Later commits go to this branch (created from the current commit). */
  async switchTo(branch: string): Promise<void> {
    await git(this.workDir, 'switch', '--quiet', '-c', branch);
    await git(this.workDir, 'push', '--quiet', '-u', 'origin', branch);
    await git(this.bareDir, 'update-server-info');
  }

  async remove(): Promise<void> {
    await rm(this.workDir, { recursive: true, force: true });
  }
}

export type GitServerMode = 'smart' | 'dumb' | 'hang';

export interface GitServer {
  /** `http://127.0.0.1:<port>`; a repository is at `${url}/<name>.git`. */
  url: string;
  /** Requests received, as `METHOD path?query`. */
  requests: string[];
  close(): Promise<void>;
}

export async function startGitServer(projectRoot: string, mode: GitServerMode): Promise<GitServer> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    if (mode === 'hang') return; // accept the request, never answer
    const handle = mode === 'smart' ? serveSmart : serveDumb;
    handle(projectRoot, request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500);
      response.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `git http-backend` as a CGI program: request → environment + stdin, stdout → response. */
async function serveSmart(projectRoot: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: request.method ?? 'GET',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    CONTENT_TYPE: request.headers['content-type'] ?? '',
    REMOTE_ADDR: request.socket.remoteAddress ?? '',
  };
  const protocol = request.headers['git-protocol'];
  if (typeof protocol === 'string') env.GIT_PROTOCOL = protocol;
  const encoding = request.headers['content-encoding'];
  if (typeof encoding === 'string') env.HTTP_CONTENT_ENCODING = encoding;
  const length = request.headers['content-length'];
  if (typeof length === 'string') env.CONTENT_LENGTH = length;

  const cgi = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  request.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  cgi.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      response.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end === -1) return;
    headersDone = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else response.setHeader(name, value);
    }
    response.writeHead(status);
    response.write(head.subarray(end + 4));
  });
  await new Promise<void>((resolve, reject) => {
    cgi.on('error', reject);
    cgi.on('close', () => resolve());
  });
  if (!headersDone) response.writeHead(502);
  response.end();
}

/** Static files, what a web server in front of `git update-server-info` output gives. */
async function serveDumb(projectRoot: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const file = path.join(projectRoot, path.normalize(decodeURIComponent(url.pathname)));
  const info = await stat(file).catch(() => undefined);
  if (request.method !== 'GET' || !file.startsWith(projectRoot + path.sep) || !info?.isFile()) {
    response.writeHead(404).end('not found');
    return;
  }
  response.writeHead(200, { 'Content-Length': info.size });
  createReadStream(file).pipe(response);
}
