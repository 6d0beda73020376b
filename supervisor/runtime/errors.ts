/**
 * The ways a plugin call can fail, as seen by callers of a format handler.
 *
 * Each class carries one `code` of the contract's "Plugin failures seen by callers" table;
 * the HTTP layer turns the code into a status. Nothing here knows about HTTP.
 */
export type PluginFailureCode =
  | 'artifact_invalid'
  | 'plugin_timeout'
  | 'plugin_memory_exceeded'
  | 'plugin_crashed'
  | 'plugin_invalid_response'
  | 'format_unavailable';

export abstract class PluginFailure extends Error {
  abstract readonly code: PluginFailureCode;
}

/** The handler returned `err(message)`: the message is the handler's own words. */
export class ArtifactInvalid extends PluginFailure {
  readonly code = 'artifact_invalid';
}

export class PluginTimeout extends PluginFailure {
  readonly code = 'plugin_timeout';
  constructor(readonly limitMs: number) {
    super(`the plugin call ran past its time limit of ${limitMs} ms and was stopped`);
  }
}

export class PluginMemoryExceeded extends PluginFailure {
  readonly code = 'plugin_memory_exceeded';
  constructor(readonly limitMb: number, detail?: string) {
    super(`the plugin exceeded its memory limit of ${limitMb} MB` + (detail ? `: ${detail}` : ''));
  }
}

/** The plugin process died, or the guest trapped, in the middle of the call. */
export class PluginCrashed extends PluginFailure {
  readonly code = 'plugin_crashed';
}

/**
 * The call succeeded but what the plugin returned is out of bounds (../formats/plugin-results.ts):
 * the message names the field. The plugin is not at fault as a process, so this never counts
 * toward quarantine; nothing of the result is stored.
 */
export class PluginInvalidResponse extends PluginFailure {
  readonly code = 'plugin_invalid_response';
}

/** Disabled, quarantined, stopped or uninstalled: nothing can serve the call. */
export class FormatUnavailable extends PluginFailure {
  readonly code = 'format_unavailable';
}

/**
 * A component the runtime will not prepare: too large, too many functions, or too slow or
 * too large to transpile. Not a call failure: it is raised before any process runs, and
 * callers answer it like any other problem of the component (422, one problem each).
 */
export class ComponentRefused extends Error {
  constructor(readonly problems: string[]) {
    super(`the component cannot be prepared: ${problems.join('; ')}`);
  }
}
