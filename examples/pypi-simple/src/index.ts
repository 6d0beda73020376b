// The `pypi-simple` format: Python wheels and sdists, checked by file name (and archive
// signature), indexed as a static PEP 503 tree, and served to pip through the simple
// repository API (world format-plugin-v2: `handle-request`).
//
// Failures are thrown as plain strings: componentize-js turns a thrown string into the
// `err` of the WIT result, while anything else thrown (an Error) traps the component.
import type * as Handler from 'artifact-keeper:format/handler@1.0.0';
import type { Metadata } from 'artifact-keeper:format/handler@1.0.0';
import type * as RequestHandler from 'artifact-keeper:format/request-handler@1.0.0';
import type { HttpResponse } from 'artifact-keeper:format/request-handler@1.0.0';
import { checkContents, normalizeProjectName, parseFileName, type Distribution } from './filenames.js';
import { page, urlPath, type Link } from './pages.js';

const FORMAT_KEY = 'pypi-simple';

export const handler: typeof Handler = {
  formatKey() {
    return FORMAT_KEY;
  },

  validate(path, data) {
    checkContents(parseFileName(path), data);
  },

  parseMetadata(path, data) {
    const distribution = parseFileName(path);
    return {
      path,
      version: distribution.version,
      contentType: distribution.kind === 'wheel' ? 'application/zip' : 'application/gzip',
      sizeBytes: BigInt(data.length),
    };
  },

  /**
   * A static PEP 503 tree: simple/index.html and simple/<project>/index.html, whose links
   * are relative (../../<path>). It works wherever the tree sits beside the artifacts, e.g.
   * both mirrored into one folder served by `python3 -m http.server`; on the server itself
   * pip uses the live API below.
   */
  generateIndex(artifacts) {
    const projects = byProject(artifacts);
    const files: Array<[string, Uint8Array]> = [['simple/index.html', projectListPage(projects)]];
    for (const [project, distributions] of projects) {
      files.push([`simple/${project}/index.html`, projectPage(project, distributions, '../..')]);
    }
    return files;
  },
};

export const requestHandler: typeof RequestHandler = {
  /**
   * GET or HEAD (paths below the repository, already percent-decoded by the server):
   *   /simple/            the project list
   *   /simple/<project>/  the project's files, linked to the server's downloads
   *   /files/<path>, /<path>  a redirect to the artifact's download
   * Names that are not normalized, and pages without their trailing slash, redirect to the
   * normalized URL with the slash, as PEP 503 asks.
   */
  handleRequest(request, context, artifacts) {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return text(405, `${request.method} is not allowed here`, [['allow', 'GET, HEAD']]);
    }
    const response = route(request.path, context.baseUrl.replace(/\/+$/, ''), context.downloadBaseUrl.replace(/\/+$/, ''), artifacts);
    return request.method === 'HEAD' ? { ...response, body: new Uint8Array(0) } : response;
  },
};

function route(path: string, baseUrl: string, downloadBaseUrl: string, artifacts: Metadata[]): HttpResponse {
  if (path === '/simple') return redirect(301, `${baseUrl}/simple/`);
  if (path === '/simple/') return html(projectListPage(byProject(artifacts)));

  const projectPath = /^\/simple\/([^/]+)(\/?)$/.exec(path);
  if (projectPath) {
    const [, name, slash] = projectPath;
    const project = normalizeProjectName(name);
    if (project !== name || slash === '') return redirect(301, `${baseUrl}/simple/${encodeURIComponent(project)}/`);
    const distributions = byProject(artifacts).get(project);
    if (!distributions) return text(404, `no project named ${project} in this repository`);
    return html(projectPage(project, distributions, downloadBaseUrl));
  }

  const artifactPath = path.startsWith('/files/') ? path.slice('/files/'.length) : path.slice(1);
  if (artifacts.some((artifact) => artifact.path === artifactPath)) {
    return redirect(302, `${downloadBaseUrl}/${urlPath(artifactPath)}`);
  }
  return text(404, `not found: ${path}`);
}

interface Listed {
  distribution: Distribution;
  artifact: Metadata;
}

/**
 * The artifacts by normalized project name, names and files in alphabetical order. A file
 * whose name does not parse (stored before this plugin checked names) is left out.
 */
function byProject(artifacts: Metadata[]): Map<string, Listed[]> {
  const projects = new Map<string, Listed[]>();
  for (const artifact of artifacts) {
    let distribution: Distribution;
    try {
      distribution = parseFileName(artifact.path);
    } catch {
      continue;
    }
    const listed = projects.get(distribution.project) ?? [];
    listed.push({ distribution, artifact });
    projects.set(distribution.project, listed);
  }
  const sorted = new Map([...projects].sort(([a], [b]) => byCodePoints(a, b)));
  for (const listed of sorted.values()) listed.sort((a, b) => byCodePoints(a.distribution.fileName, b.distribution.fileName));
  return sorted;
}

/** The same order in every locale. */
function byCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function projectListPage(projects: Map<string, Listed[]>): Uint8Array {
  return page(
    'Simple index',
    [...projects.keys()].map((project) => ({ href: `${encodeURIComponent(project)}/`, text: project })),
  );
}

/** Links to `<downloadBase>/<path>`, with the server's checksum for pip to verify. */
function projectPage(project: string, listed: Listed[], downloadBase: string): Uint8Array {
  const links: Link[] = listed.map(({ distribution, artifact }) => ({
    href: `${downloadBase}/${urlPath(artifact.path)}${artifact.checksumSha256 ? `#sha256=${artifact.checksumSha256}` : ''}`,
    text: distribution.fileName,
  }));
  return page(`Links for ${project}`, links);
}

function html(body: Uint8Array): HttpResponse {
  return { status: 200, headers: [['content-type', 'text/html; charset=utf-8']], body };
}

function redirect(status: number, location: string): HttpResponse {
  return { status, headers: [['location', location]], body: new Uint8Array(0) };
}

function text(status: number, message: string, headers: Array<[string, string]> = []): HttpResponse {
  return { status, headers: [['content-type', 'text/plain; charset=utf-8'], ...headers], body: new TextEncoder().encode(message) };
}
