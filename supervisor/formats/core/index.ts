/**
 * The compiled-in format handlers, by format key: one for each of the 13 core format keys the
 * store seeds (CORE_FORMAT_KEYS). A core key without an entry here would be listed by the API
 * but answer `format_unavailable` when used.
 */
import type { FormatHandler } from '../handler.js';
import { CargoFormatHandler } from './cargo.js';
import { ConanFormatHandler } from './conan.js';
import { DebianFormatHandler } from './debian.js';
import { GenericFormatHandler } from './generic.js';
import { GoFormatHandler } from './go.js';
import { HelmFormatHandler } from './helm.js';
import { MavenFormatHandler } from './maven.js';
import { NpmFormatHandler } from './npm.js';
import { NugetFormatHandler } from './nuget.js';
import { OciFormatHandler } from './oci.js';
import { PypiFormatHandler } from './pypi.js';
import { RpmFormatHandler } from './rpm.js';
import { RubygemsFormatHandler } from './rubygems.js';

export function coreFormatHandlers(): Map<string, FormatHandler> {
  const handlers: FormatHandler[] = [
    new MavenFormatHandler(),
    new NpmFormatHandler(),
    new PypiFormatHandler(),
    new NugetFormatHandler(),
    new CargoFormatHandler(),
    new GoFormatHandler(),
    new OciFormatHandler(),
    new HelmFormatHandler(),
    new DebianFormatHandler(),
    new RpmFormatHandler(),
    new RubygemsFormatHandler(),
    new ConanFormatHandler(),
    new GenericFormatHandler(),
  ];
  return new Map(handlers.map((handler) => [handler.formatKey, handler]));
}
