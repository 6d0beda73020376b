// The HTML pages of the simple repository API (PEP 503), with the API version meta tag of
// PEP 629. Clients read only the anchors: their href (with `#sha256=` for the file's
// checksum) and their text (the file name).

export interface Link {
  href: string;
  text: string;
}

export function page(title: string, links: Link[]): Uint8Array {
  const anchors = links.map((link) => `    <a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a><br>\n`).join('');
  return new TextEncoder().encode(
    '<!DOCTYPE html>\n<html>\n  <head>\n' +
      '    <meta name="pypi:repository-version" content="1.0">\n' +
      `    <title>${escapeHtml(title)}</title>\n  </head>\n  <body>\n` +
      `    <h1>${escapeHtml(title)}</h1>\n${anchors}  </body>\n</html>\n`,
  );
}

/** A repository path as a URL path: each segment percent-encoded, the slashes kept. */
export function urlPath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
