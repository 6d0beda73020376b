/**
 * A Git repository → the package at one commit. Runs git through simple-git in a locked-down
 * way: a minimal environment (no user or system configuration, no credential prompts),
 * http(s) as the only transports, redirects refused, symbolic links checked out as plain
 * files, and the connection pinned to the addresses `resolveAllowedHost` approved (git's
 * `http.curloptResolve`), so a DNS answer that changes between the check and the clone
 * cannot send git somewhere else. One deadline covers resolving, cloning and checking out.
 *
 * Strategy: a shallow fetch of the one commit wanted (branch, tag or full SHA; smart HTTP
 * servers allow it), else a full clone and a local lookup (dumb HTTP servers, short SHAs).
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { GitError, type SimpleGit, simpleGit } from 'simple-git';
import { ServiceError, validationFailed } from '../errors.js';
import { checkGitUrl, type DnsLookup, type ResolvedHost, resolveAllowedHost } from './git-url.js';
import type { FetchedTree } from './package.js';
import { unsafeRelativePath } from '../../relative-path.js';
import { makeTempDir, removeDir } from './paths.js';
import { describeError } from '../../../protocol/error-text.js';

export interface GitRequest {
  url: string;
  /** Branch, tag, or full or abbreviated commit SHA; the default branch when absent. */
  ref?: string | null;
  /** Folder of the repository holding plugin.toml. */
  path?: string | null;
}

export interface GitOptions {
  workDir: string;
  /** Let the host be a loopback or private address (on-premises Git servers, tests). */
  gitAllowPrivate: boolean;
  /** Everything from resolving the host to the checkout; DEFAULT_GIT_TIMEOUT_MS when absent. */
  gitTimeoutMs?: number;
  dnsLookup?: DnsLookup;
}

const DEFAULT_GIT_TIMEOUT_MS = 60_000;

const MAX_REF_LENGTH = 255;
const ABBREVIATED_SHA = /^[0-9a-f]{4,40}$/i;
/** SHA-1 or SHA-256 object names, as rev-parse prints them. */
const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

const invalidRef = (message: string) => new ServiceError(400, 'invalid_git_ref', message);

export async function fetchFromGit(request: GitRequest, options: GitOptions): Promise<FetchedTree> {
  const url = checkGitUrl(request.url);
  const ref = request.ref ? checkRef(request.ref) : null;
  const subfolder = request.path ? checkSubfolder(request.path) : null;
  const timeoutMs = options.gitTimeoutMs ?? DEFAULT_GIT_TIMEOUT_MS;
  const deadline = new Deadline(timeoutMs, `fetching ${url.href}`);

  const host = await deadline.race(resolveAllowedHost(url, { allowPrivate: options.gitAllowPrivate, dnsLookup: options.dnsLookup }));
  const dir = await makeTempDir(options.workDir, 'git');
  try {
    const repoDir = path.join(dir, 'repo');
    const gitIn = (baseDir: string) => new GitRunner(lockedDownGit(baseDir, path.join(dir, 'home'), host, deadline), deadline);
    await mkdir(path.join(dir, 'home'));
    const resolvedCommit = await checkout(gitIn, url.href, ref, repoDir);
    const root = subfolder === null ? repoDir : path.join(repoDir, subfolder);
    if (subfolder !== null && !(await isDirectory(root))) {
      const message = `"${subfolder}" is not a folder of the repository at commit ${resolvedCommit.slice(0, 12)}`;
      throw validationFailed('plugin_validation_failed', message, [{ field: 'path', message }]);
    }
    return {
      root,
      source: { type: 'wasm_git', url: url.href, ref, resolvedCommit, path: subfolder },
      cleanup: () => removeDir(dir),
    };
  } catch (error) {
    await removeDir(dir);
    throw error;
  } finally {
    deadline.clear();
  }
}

/** Checks out the commit `ref` names (the default branch's when null) into `repoDir`; returns its SHA. */
async function checkout(gitIn: (baseDir: string) => GitRunner, url: string, ref: string | null, repoDir: string): Promise<string> {
  await mkdir(repoDir);
  const shallow = gitIn(repoDir);
  await shallow.run(['init', '--quiet']);
  try {
    await shallow.run(['fetch', '--quiet', '--depth', '1', '--no-tags', '--', url, ref ?? 'HEAD']);
    await shallow.run(['checkout', '--quiet', '--detach', 'FETCH_HEAD']);
    return await shallow.run(['rev-parse', 'HEAD']);
  } catch (error) {
    // What a full clone would fail on too is final; anything else (a dumb HTTP server, an
    // abbreviated SHA, a server refusing unadvertised commits) deserves the full clone.
    const final = finalFailure(error, url);
    if (final !== null) throw final;
    // The server listed its refs and this is none of them: only a SHA prefix is worth a full clone.
    if (/couldn't find remote ref/i.test(describeError(error)) && (ref === null || !ABBREVIATED_SHA.test(ref))) {
      throw refNotFound(url, ref);
    }
  }

  await removeDir(repoDir);
  const parent = gitIn(path.dirname(repoDir));
  try {
    await parent.run(['clone', '--quiet', '--no-checkout', '--', url, repoDir]);
  } catch (error) {
    throw finalFailure(error, url) ?? fetchFailed(url, error);
  }
  const full = gitIn(repoDir);
  const commit = await resolveRef(full, ref);
  if (commit === null) throw refNotFound(url, ref);
  try {
    await full.run(['checkout', '--quiet', '--detach', commit]);
  } catch (error) {
    throw finalFailure(error, url) ?? fetchFailed(url, error);
  }
  return commit;
}

/** The commit `ref` names in a full clone, trying it as a branch, a tag, then a SHA. */
async function resolveRef(git: GitRunner, ref: string | null): Promise<string | null> {
  const candidates =
    ref === null ? ['HEAD'] : [`refs/remotes/origin/${ref}`, `refs/tags/${ref}`, ...(ABBREVIATED_SHA.test(ref) ? [ref] : [])];
  for (const candidate of candidates) {
    // `--quiet`: an unknown name prints nothing (and simple-git then reports success).
    const commit = await git
      .run(['rev-parse', '--verify', '--quiet', '--end-of-options', `${candidate}^{commit}`])
      .catch((error: unknown) => {
        if (error instanceof GitError) return '';
        throw error;
      });
    if (FULL_SHA.test(commit)) return commit;
  }
  return null;
}

/**
 * simple-git for one folder, with git configured from nothing but these settings. No
 * configuration file is read: HOME is an empty folder of this install and the system file is
 * off, so no user's credential helper, proxy, `url.insteadOf` or hook can take part.
 */
function lockedDownGit(baseDir: string, home: string, host: ResolvedHost, deadline: Deadline): SimpleGit {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    // git's messages in English: failures are classified by them.
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: 'http:https',
    GIT_CONFIG_NOSYSTEM: '1',
  };
  const config = [
    // Transports: http(s) only, whatever a URL, a submodule or an alternate asks for.
    'protocol.allow=never',
    'protocol.http.allow=always',
    'protocol.https.allow=always',
    // Never ask anyone for credentials: public repositories only.
    'credential.helper=',
    // A redirect could lead to a host that was never checked (and redirects govern
    // dumb-HTTP alternates too).
    'http.followRedirects=false',
    // The deadline kills git, but not the http helper it started (git-remote-http sits in
    // curl, blind to its parent's death): curl's own stall limit makes that orphan give up
    // soon after, rather than when a silent server finally closes the connection.
    'http.lowSpeedLimit=1',
    `http.lowSpeedTime=${Math.ceil(deadline.ms / 1000)}`,
    // A link in the repository must not make the package reader open a file outside it.
    'core.symlinks=false',
    'advice.detachedHead=false',
    'init.defaultBranch=main',
    ...(host.curlResolve === null ? [] : [`http.curloptResolve=${host.curlResolve}`]),
  ];
  return simpleGit({
    baseDir,
    binary: 'git',
    maxConcurrentProcesses: 1,
    config,
    abort: deadline.signal,
    allowEnvironment: Object.keys(env),
    // Both guards object to the settings above, which only ever narrow what git does; the
    // caller's URL and ref always come after "--" (or --end-of-options), where no option can hide.
    unsafe: { allowUnsafeProtocolOverride: true, allowUnsafeCredentialHelper: true },
  }).env(env);
}

/** Runs git commands, turning an abort by the deadline into 504 `git_timeout`. */
class GitRunner {
  constructor(
    private readonly git: SimpleGit,
    private readonly deadline: Deadline,
  ) {}

  async run(args: string[]): Promise<string> {
    try {
      return (await this.git.raw(args)).trim();
    } catch (error) {
      if (this.deadline.signal.aborted) throw this.deadline.error();
      throw error;
    }
  }
}

/** An AbortSignal that fires after `ms`, and the 504 to report when it has. */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly ms: number,
    private readonly what: string,
  ) {
    this.timer = setTimeout(() => this.controller.abort(), ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  error(): ServiceError {
    return new ServiceError(504, 'git_timeout', `${this.what} took longer than ${formatSeconds(this.ms)}, the limit for git installs`);
  }

  /** `work`'s result, or the timeout error if the deadline comes first. */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.signal.aborted) return Promise.reject(this.error());
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(this.error());
      this.signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, reject).finally(() => this.signal.removeEventListener('abort', onAbort));
    });
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

/** curl's words for a server that cannot be reached or fails, whatever git asks of it. */
const UNREACHABLE =
  /Failed to connect|Couldn't connect|Connection refused|Connection timed out|SSL certificate problem|SSL connect error|returned error: 5\d\d/i;

/** Failures no other way of fetching would get past, as the caller should see them; null for the rest. */
function finalFailure(error: unknown, url: string): ServiceError | null {
  if (error instanceof ServiceError) return error;
  const text = describeError(error);
  if (/repository '.*' not found/i.test(text)) {
    return new ServiceError(404, 'repository_not_found', `there is no Git repository at ${url}`);
  }
  if (/could not read (Username|Password)|Authentication failed|returned error: 40[13]/i.test(text)) {
    return new ServiceError(
      404,
      'repository_not_found',
      `${url} asks for credentials: it is private or does not exist, and this server only clones public repositories`,
    );
  }
  if (/returned error: 30\d|unable to update url base from redirection/i.test(text)) {
    const message = `${url} redirects elsewhere; redirects are not followed, so give the repository's final URL`;
    return new ServiceError(400, 'invalid_git_url', message);
  }
  if (UNREACHABLE.test(text)) return fetchFailed(url, error);
  return null;
}

function refNotFound(url: string, ref: string | null): ServiceError {
  const message =
    ref === null ? `${url} has no commits on its default branch` : `"${ref}" is neither a branch, a tag nor a commit of ${url}`;
  return new ServiceError(404, 'ref_not_found', message);
}

/** 502: the Git server was reached (or not) and did not deliver; git's own words say why. */
function fetchFailed(url: string, error: unknown): ServiceError {
  const fatal = describeError(error)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^(fatal|error):/.test(line))
    .pop();
  const reason = fatal ?? describeError(error).trim().split('\n').pop() ?? 'unknown error';
  return new ServiceError(502, 'git_fetch_failed', `fetching ${url} failed: ${reason}`);
}

function checkRef(ref: string): string {
  if (typeof ref !== 'string') throw invalidRef('ref must be a string: a branch, a tag or a commit SHA');
  if (ref.length > MAX_REF_LENGTH) throw invalidRef(`ref is longer than ${MAX_REF_LENGTH} characters`);
  if (ref.startsWith('-')) throw invalidRef(`"${ref}" is not a valid ref: it must not start with "-"`);
  // The rules of git check-ref-format, plus no revision syntax ("~", "^", "@{") that would
  // let a ref name some other commit.
  if (/[\s\u0000-\u001f\u007f~^:?*[\\]|\.\.|@\{|\/\/|^\/|\/$|\.$|\.lock(\/|$)|(^|\/)\./.test(ref)) {
    throw invalidRef(`"${ref}" is not a valid ref: give a branch, a tag or a commit SHA`);
  }
  return ref;
}

/** The folder, normalized; null when it is the repository's root. */
function checkSubfolder(subfolder: string): string | null {
  const unsafe = typeof subfolder === 'string' ? unsafeRelativePath(subfolder) : 'it is not a string';
  if (unsafe !== null) {
    throw new ServiceError(400, 'invalid_package_path', `path "${subfolder}" must be a folder inside the repository: ${unsafe}`);
  }
  const normalized = path.posix.normalize(subfolder).replace(/\/+$/, '');
  return normalized === '.' ? null : normalized;
}

async function isDirectory(folder: string): Promise<boolean> {
  try {
    return (await stat(folder)).isDirectory();
  } catch {
    return false;
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
