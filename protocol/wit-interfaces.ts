/**
 * The names of the WIT interfaces a plugin component exports and imports (wit/*.wit), written
 * once for both processes: the supervisor checks a component against them
 * (supervisor/runtime/component.ts), the plugin host instantiates through them
 * (plugin-host/loader.ts, plugin-host/artifact.ts).
 */
import type { InterfaceVersion } from './methods.js';

const PACKAGE = 'artifact-keeper:format';

export const HANDLER_INTERFACE = `${PACKAGE}/handler@1.0.0`;
export const REQUEST_HANDLER_INTERFACE = `${PACKAGE}/request-handler@1.0.0`;
/** The 1.1.0 worlds (wit/format-plugin-1.1.wit): the artifact is read through a resource the host provides. */
export const STREAMING_HANDLER_INTERFACE = `${PACKAGE}/streaming-handler@1.1.0`;
export const STREAMING_REQUEST_HANDLER_INTERFACE = `${PACKAGE}/streaming-request-handler@1.1.0`;
/** The 1.1.0 import providing the `artifact` resource, as the component (and its core module) names it. */
export const ARTIFACT_SOURCE_INTERFACE = `${PACKAGE}/artifact-source@1.1.0`;
/** The same import without its version: the key jco's instantiation mode reads the resource class from. */
export const ARTIFACT_SOURCE_IMPORT = `${PACKAGE}/artifact-source`;

/** What each interface version exports: the handler, and the request handler of its `-http` world. */
export const EXPORTED_INTERFACES = {
  '1.0.0': { handler: HANDLER_INTERFACE, requestHandler: REQUEST_HANDLER_INTERFACE },
  '1.1.0': { handler: STREAMING_HANDLER_INTERFACE, requestHandler: STREAMING_REQUEST_HANDLER_INTERFACE },
} as const satisfies Record<InterfaceVersion, { handler: string; requestHandler: string }>;
