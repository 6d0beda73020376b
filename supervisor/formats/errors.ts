/**
 * What a format handler throws, core or WebAssembly alike. The classes are the runtime's plugin
 * failures (../runtime/errors.ts), re-exported so that a core handler rejecting an artifact
 * throws exactly what a plugin's `err` becomes, and callers of the routing layer (services,
 * http/errors.ts) catch one set of classes without reaching into the process runtime.
 */
export {
  ArtifactInvalid,
  FormatUnavailable,
  PluginFailure,
  PluginInvalidResponse,
  type PluginFailureCode,
} from '../runtime/errors.js';
