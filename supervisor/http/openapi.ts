/**
 * The OpenAPI 3.1 document of the API, served at OPENAPI_PATH. Besides describing every route,
 * it is where the API writes down what the contract (shared/contract/api.md) leaves open: see
 * DECISIONS. Ranges, enums and field names come from the modules that enforce them, so the
 * document cannot drift from the checks.
 */
import { WWW_AUTHENTICATE } from './auth.js';
import { JSON_LIMIT_BYTES } from './body.js';
import { PLUGIN_FAILURE_STATUS } from './errors.js';
import type { IntegerRange } from './input.js';
import { CLUSTER_MOUNTS, EXT_PREFIX, FORMAT_MOUNTS, ME_PATH, OPENAPI_PATH, PLUGIN_MOUNTS, REPOSITORY_MOUNTS } from './paths.js';
import { NODE_STATES } from '../cluster/nodes.js';
import { CHILD_STATES, EXIT_REASONS } from '../runtime/child.js';
import { FAILING_PLUGIN_STATES, HEALTH_STATUSES, PLUGIN_RUNTIME_STATES, READINESS_STATES } from '../services/contracts.js';
import {
  EVENT_SEVERITIES,
  EVENT_TYPES,
  HANDLER_TYPES,
  LOG_STREAMS,
  NODE_PLUGIN_STATES,
  PLUGIN_STATUSES,
  PLUGIN_TYPES,
  ROLES,
  SOURCE_TYPES,
} from '../store/store.js';
import { MAX_PATH_LENGTH } from '../relative-path.js';
import { ARTIFACT_MEMORY_NEEDS } from '../formats/wasm-handler.js';
import { REPOSITORY_KEY } from '../services/repositories.js';
import { REQUEST_ID_HEADER } from './request-id.js';
import { FORWARDED_REQUEST_HEADERS } from './routes/ext.js';
import { NATIVE_BODY_LIMIT_BYTES } from '../services/artifacts/native.js';
import { PLUGIN_RESULT_LIMITS, PLUGIN_STATUS_RANGE } from '../formats/plugin-results.js';
import { EXT_RESPONSE_HEADERS } from './ext-response.js';
import { MAX_TEST_ARTIFACT_BYTES, TEST_FILE_FIELDS } from './routes/formats.js';
import {
  DEFAULT_EVENT_LIMIT,
  DEFAULT_PER_PAGE,
  EVENT_LIMIT_RANGE,
  LIMIT_RANGES,
  PAGE_RANGE,
  PER_PAGE_RANGE,
  ZIP_FIELDS,
} from './routes/plugins.js';

type Schema = Record<string, unknown>;
type Operation = Record<string, unknown>;
type PathItem = Partial<Record<'get' | 'head' | 'post' | 'put' | 'patch' | 'delete', Operation>>;

const ref = (kind: 'schemas' | 'parameters' | 'responses', name: string) => ({ $ref: `#/components/${kind}/${name}` });
const nullable = (type: string, extra: Schema = {}): Schema => ({ type: [type, 'null'], ...extra });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const listOf = (item: string): Schema => ({
  type: 'object',
  required: ['items'],
  properties: { items: { type: 'array', items: ref('schemas', item) } },
});

const DECISIONS = `
## What the contract leaves open, and how this API settles it

- **Input validation (400).** Every problem of a request's input is reported at once:
  \`{"error": "bad_request", "message": "...", "validation_errors": [{"field", "message"}]}\`, each
  message naming the query parameter, path parameter or body field. An empty query value
  (\`?status=\`) counts as absent; a parameter given twice is a 400; a JSON body field the route
  does not know is a 400 (a typo must not pass silently). \`:id\` must be a UUID (any case; ids are
  lowercase in answers).
- **Bodies.** JSON bodies up to ${JSON_LIMIT_BYTES} bytes (413 \`payload_too_large\`); a body
  without a Content-Type is read as JSON; a Content-Type a route does not take is a 415
  \`unsupported_media_type\`; malformed JSON is a 400 \`invalid_json\`.
- **Resource limits** (\`PUT /{id}/limits\`): integers, \`memory_mb\` ${range(LIMIT_RANGES.memory_mb)},
  \`timeout_secs\` ${range(LIMIT_RANGES.timeout_secs)}, \`instances\` ${range(LIMIT_RANGES.instances)}
  (the bounds of the PLUGINS_DEFAULT_* settings; the PLUGINS_MAX_* caps bound manifests, not
  admins). At least one field is required.
- **Uploads.** Plugin ZIPs: multipart/form-data, the first file in field ${ZIP_FIELDS.map((f) => `\`${f}\``).join(', ')}
  (other file fields are skipped); larger than PLUGINS_MAX_ZIP_MB → 413 \`payload_too_large\`;
  none → 400 \`no_file\`. Uploads are streamed to a temporary file under DATA_DIR that is removed
  once the call is over. Format tests: field ${TEST_FILE_FIELDS.map((f) => `\`${f}\``).join(', ')} plus
  \`path\` (defaulting to the uploaded file's name), up to ${MAX_TEST_ARTIFACT_BYTES} bytes.
- **Reload bodies.** multipart → the uploaded ZIP; JSON \`{"ref"}\` → that git ref; \`{}\` or no body
  → the plugin's recorded source again.
- **Repositories.** \`key\` must match \`${REPOSITORY_KEY.source}\` (400 otherwise); \`format\` must name
  a format handler (400 otherwise) that is enabled (409 \`format_disabled\`); a key in use is 409
  \`repository_exists\`. \`public\` defaults to false, \`description\` to null. The list's \`?format=\`
  filter is a 400 when the value names no format handler and no repository (a repository outlives
  its format's plugin when that is uninstalled with \`force=true\`, and stays readable). Readers may GET.
- **Artifacts.** Paths are relative to the repository, \`/\`-separated, at most ${MAX_PATH_LENGTH} characters;
  empty and \`.\` segments are dropped; \`..\` segments, a leading \`/\`, backslashes, NUL and other
  control characters, and drive letters are a 400 \`invalid_path\`. An upload over ARTIFACTS_MAX_MB, or
  more than a 1.0.0 plugin's memory limit can hold (the artifact is copied into it: half the limit, or for a
  componentize-js plugin (limit - ${ARTIFACT_MEMORY_NEEDS['componentize-js'].fixedBytes / 1048576} MiB) / ${ARTIFACT_MEMORY_NEEDS['componentize-js'].perArtifactByte}),
  is a 413 naming the limit (a 1.1.0 plugin reads ranges: ARTIFACTS_MAX_MB only);
  \`POST /api/v1/repositories/{key}/reparse\` (admin) parses every artifact again and rebuilds the index; a path in use is a 409 \`artifact_exists\` unless \`?overwrite=true\` (which
  answers 201 too, keeping \`created_at\`). The upload answers once the repository's index has been
  regenerated (runs are serialised per repository, across every node, and coalesce); a failed index run never fails the
  upload: the repository's \`index_error\` says why, and the previous index stays. Downloads carry
  \`ETag\` (the SHA-256), \`Content-Type\` as the handler gave it, \`Content-Disposition: attachment\`,
  \`X-Content-Type-Options: nosniff\` and a sandboxing \`Content-Security-Policy\`; \`If-None-Match\` → 304;
  one byte range (\`Range: bytes=a-b\`, \`a-\`, \`-n\`, honouring \`If-Range\`) → 206, or 416 when it starts past the end.
  An index path naming a folder serves its \`index.html\` when there is one, and a path that is no
  index file serves the artifact there: the index tree lies over the artifacts, so relative links in
  generated indexes resolve (pip reads a core pypi repository's \`/index/simple/\`).
- **Visibility.** Without credentials, a public repository's artifact and index GET/HEAD routes and its
  \`${EXT_PREFIX}\` routes (any method) answer; anything else, a private or missing repository included, is
  401 — the same answer, so anonymous callers cannot tell them apart. Readers may GET/HEAD any
  repository's artifacts, index and \`${EXT_PREFIX}\` routes; writes need the admin role.
- **Native protocol** (\`${EXT_PREFIX}/{format_key}/{repo_key}/{path}\`). 404 \`not_found\` when the repository is
  missing or holds another format (the message names its own \`${EXT_PREFIX}\` path), 404 \`no_native_protocol\`
  when the format's handler has no \`handle_request\`, 503 \`format_unavailable\` when no handler serves it.
  Forwarded request headers: ${[...FORWARDED_REQUEST_HEADERS].map((name) => `\`${name}\``).join(', ')} (never
  credentials or cookies); bodies up to ${NATIVE_BODY_LIMIT_BYTES} bytes, or what a 1.0.0 plugin's memory
  limit can hold when lower (413 naming the limit). The plugin's status (${PLUGIN_STATUS_RANGE.min}..${PLUGIN_STATUS_RANGE.max}) and body are returned
  with only these of its headers, each with a value of its own syntax: ${EXT_RESPONSE_HEADERS.map((name) => `\`${name}\``).join(', ')};
  any other is dropped, and the server's \`X-Content-Type-Options\` and sandboxing \`Content-Security-Policy\`
  always apply. A private repository's answers always carry \`Cache-Control: private\` (never \`public\` or
  \`s-maxage\`). \`Location\` must lie within the repository (its \`${EXT_PREFIX}\` or \`/api/v1/repositories/{repo_key}/\`
  routes on this service's external URL) and is sent absolute; \`Link\` targets likewise, else the header is dropped.
- **Plugin results.** What a plugin returns is checked before anything of it is stored or sent: metadata
  (path as an artifact path; version at most ${PLUGIN_RESULT_LIMITS.versionLength} printable characters; checksum 64 hex digits or none;
  content type a media type of at most ${PLUGIN_RESULT_LIMITS.contentTypeLength} characters; size a whole number), index files (at most
  ${PLUGIN_RESULT_LIMITS.indexFiles}, each at most ${PLUGIN_RESULT_LIMITS.indexFileBytes} bytes, ${PLUGIN_RESULT_LIMITS.indexTotalBytes} in all), native answers (a status outside
  ${PLUGIN_STATUS_RANGE.min}..${PLUGIN_STATUS_RANGE.max}, more than ${PLUGIN_RESULT_LIMITS.responseHeaders} headers or ${PLUGIN_RESULT_LIMITS.responseHeaderLength} characters of them, a body over
  ${PLUGIN_RESULT_LIMITS.responseBodyBytes} bytes, a \`Location\` outside the repository). Out of bounds: 502 \`plugin_invalid_response\`
  naming the field, nothing stored (a failed index run keeps the previous index and says why in \`index_error\`).
- **Hosts.** A request whose \`Host\` (or, with TRUST_PROXY=true, \`X-Forwarded-Host\`) is not one of ALLOWED_HOSTS
  (any port), or whose \`X-Forwarded-Proto\` is not http or https, is a 400 \`invalid_host\` on every route, before
  authentication. The repository context's URLs handed to plugins are built on PUBLIC_URL when it is set, else
  on the request's scheme and host (\`X-Forwarded-Proto\`/\`X-Forwarded-Host\` only when TRUST_PROXY=true).
- **Format test.** 200 with the result when \`success\`, else 422 with the same body.
- **Auth.** Every path but \`/health\`, \`/ready\` and \`/metrics\` needs credentials (\`/metrics\` needs
  \`Authorization: Bearer <METRICS_TOKEN>\` when the server sets METRICS_TOKEN); without valid
  ones: 401 \`unauthorized\` (none sent) or \`invalid_credentials\`, with
  \`WWW-Authenticate: ${WWW_AUTHENTICATE}\`. The \`reader\` role may GET (and HEAD) the plugin, format and
  repository routes and this document; anything else is 403 \`forbidden\`. When a request carries several
  credentials, \`Authorization\` wins over \`X-Api-Key\`.
- **Other errors.** An unknown route is 404 \`not_found\`; a method a route does not have is 405
  \`method_not_allowed\` with \`allowed\` and an \`Allow\` header; an unreachable database is 503
  \`database_unavailable\`; an unexpected failure is 500 \`internal_error\`, whose message quotes the
  request id under which it was logged.
- **Request ids.** \`${REQUEST_ID_HEADER}\` is echoed on every answer: the caller's own (letters, digits,
  \`._:-\`, up to 128) or a new UUID.
- **Aliases.** Every \`${PLUGIN_MOUNTS[0]}\` route is also served under \`${PLUGIN_MOUNTS[1]}\`, every
  \`${FORMAT_MOUNTS[0]}\` route under \`${FORMAT_MOUNTS[1]}\`: listed below as the same operations, without
  an operationId.
`;

function range(bounds: Required<IntegerRange>): string {
  return `${bounds.min}..${bounds.max}`;
}

const SCHEMAS: Record<string, Schema> = {
  Error: {
    type: 'object',
    required: ['error', 'message'],
    properties: {
      error: { type: 'string', description: 'Machine code, lowercase snake_case.' },
      message: { type: 'string', description: 'A human sentence.' },
      validation_errors: { type: 'array', items: ref('schemas', 'ValidationError') },
      existing_plugin_id: { type: 'string', format: 'uuid', description: '409 `plugin_already_exists`.' },
      dependent_repositories: {
        type: 'array',
        description: '409 `dependency_conflict` on uninstall.',
        items: { type: 'object', required: ['id', 'key'], properties: { id: { type: 'string' }, key: { type: 'string' } } },
      },
      allowed: { type: 'array', items: { type: 'string' }, description: '405: the methods the route has.' },
    },
    additionalProperties: true,
  },
  ValidationError: {
    type: 'object',
    required: ['field', 'message'],
    properties: { field: { type: 'string' }, message: { type: 'string' } },
  },
  Capabilities: {
    type: 'object',
    required: ['parse_metadata', 'validate_artifact', 'generate_index', 'handle_request'],
    properties: Object.fromEntries(['parse_metadata', 'validate_artifact', 'generate_index', 'handle_request'].map((name) => [name, { type: 'boolean' }])),
  },
  ResourceLimits: {
    type: 'object',
    required: ['memory_mb', 'timeout_secs', 'instances'],
    properties: limitProperties(),
  },
  LimitsUpdate: {
    type: 'object',
    minProperties: 1,
    additionalProperties: false,
    properties: limitProperties(),
  },
  PluginRuntime: {
    type: 'object',
    required: ['state', 'instances', 'restarts', 'pids'],
    properties: {
      state: { enum: [...PLUGIN_RUNTIME_STATES] },
      instances: { type: 'integer' },
      restarts: { type: 'integer' },
      pids: { type: 'array', items: { type: 'integer' } },
    },
  },
  Plugin: {
    type: 'object',
    required: ['id', 'plugin_id', 'name', 'version', 'status', 'plugin_type', 'source_type', 'format_key', 'capabilities', 'resource_limits', 'runtime', 'nodes'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      plugin_id: { type: 'string', format: 'uuid', description: 'Same as `id`.' },
      name: { type: 'string' },
      version: { type: 'string' },
      display_name: nullable('string'),
      description: nullable('string'),
      author: nullable('string'),
      homepage: nullable('string'),
      license: nullable('string'),
      status: {
        enum: [...PLUGIN_STATUSES],
        description: 'The desired state (`active`, `disabled`), or `error` when the plugin should be active and every live node failed to start or quarantined it.',
      },
      plugin_type: { enum: [...PLUGIN_TYPES] },
      source_type: { enum: [...SOURCE_TYPES] },
      source_url: nullable('string'),
      source_ref: nullable('string'),
      resolved_commit: nullable('string', { description: 'Git SHA actually installed.' }),
      wasm_sha256: { type: 'string' },
      format_key: { type: 'string' },
      capabilities: ref('schemas', 'Capabilities'),
      resource_limits: ref('schemas', 'ResourceLimits'),
      error_message: nullable('string'),
      installed_at: { type: 'string', format: 'date-time' },
      enabled_at: nullable('string', { format: 'date-time' }),
      updated_at: { type: 'string', format: 'date-time' },
      runtime: { ...ref('schemas', 'PluginRuntime'), description: "The answering node's processes." },
      nodes: {
        type: 'array',
        description: 'The actual state of every node that is up (seen within the node timeout), by node id.',
        items: ref('schemas', 'PluginNodeState'),
      },
    },
  },
  PluginNodeState: {
    type: 'object',
    required: ['node_id', 'version', 'state', 'pids', 'error_message', 'updated_at'],
    properties: {
      node_id: { type: 'string' },
      version: { type: 'string', description: 'The version running, being started, or that failed.' },
      state: {
        enum: [...NODE_PLUGIN_STATES],
        description: '`error`: this node could not start the version (it keeps serving the previous one, if any); `quarantined`: it crashed too often here. Cleared by an enable or a reload.',
      },
      pids: { type: 'array', items: { type: 'integer' } },
      error_message: nullable('string'),
      updated_at: { type: 'string', format: 'date-time' },
    },
  },
  InstalledPlugin: {
    allOf: [
      ref('schemas', 'Plugin'),
      {
        type: 'object',
        required: ['message', 'warnings'],
        properties: { message: { type: 'string' }, warnings: { type: 'array', items: { type: 'string' } } },
      },
    ],
  },
  PluginList: {
    type: 'object',
    required: ['items', 'total', 'page', 'per_page'],
    properties: {
      items: { type: 'array', items: ref('schemas', 'Plugin') },
      total: { type: 'integer' },
      page: { type: 'integer' },
      per_page: { type: 'integer' },
    },
  },
  Event: {
    type: 'object',
    required: ['id', 'plugin_id', 'node_id', 'event_type', 'severity', 'message', 'details', 'created_at'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      plugin_id: { type: 'string', format: 'uuid' },
      node_id: nullable('string', { description: 'The node whose processes the event is about; null for cluster-wide events (installed, reloaded...).' }),
      event_type: { enum: [...EVENT_TYPES] },
      severity: { enum: [...EVENT_SEVERITIES] },
      message: { type: 'string' },
      details: { type: 'object' },
      created_at: { type: 'string', format: 'date-time' },
    },
  },
  EventList: { ...listOf('Event'), description: 'Newest first.' },
  Process: {
    type: 'object',
    required: ['node_id', 'pid', 'version', 'state', 'in_flight', 'calls_total', 'errors_total', 'restarts'],
    properties: {
      node_id: { type: 'string', description: 'The node running the process.' },
      pid: nullable('integer'),
      version: { type: 'string' },
      state: { enum: [...CHILD_STATES] },
      started_at: nullable('string', { format: 'date-time' }),
      rss_bytes: nullable('integer'),
      cpu_percent: nullable('number'),
      wasm_memory_bytes: nullable('integer'),
      in_flight: { type: 'integer' },
      calls_total: { type: 'integer' },
      errors_total: { type: 'integer' },
      restarts: { type: 'integer' },
      last_exit: { oneOf: [ref('schemas', 'LastExit'), { type: 'null' }], description: 'How the process in this slot last ended other than by a stop.' },
    },
  },
  LastExit: {
    type: 'object',
    required: ['code', 'signal', 'reason', 'message', 'at', 'stderr_tail'],
    properties: {
      code: nullable('integer'),
      signal: nullable('string'),
      reason: { enum: EXIT_REASONS.filter((reason) => reason !== 'stopped'), description: 'A stop is not a last exit.' },
      message: { type: 'string', description: 'The sentence: what happened and, for limits, which limit.' },
      at: { type: 'string', format: 'date-time' },
      stderr_tail: { type: 'array', items: { type: 'string' }, description: 'The last lines (up to 10, each up to 1 KiB) the process wrote, oldest first.' },
    },
  },
  LogLine: {
    type: 'object',
    required: ['seq', 'time', 'node_id', 'pid', 'version', 'stream', 'text'],
    properties: {
      seq: { type: 'integer', description: "The line's number in the plugin's log, across every node; the SSE event id." },
      time: { type: 'string', format: 'date-time' },
      node_id: { type: 'string' },
      pid: nullable('integer'),
      version: { type: 'string' },
      stream: { enum: [...LOG_STREAMS], description: '`host`: the plugin host\'s or the supervisor\'s own line about the plugin (exits, restarts, dropped lines).' },
      text: { type: 'string', description: 'At most 8 KiB; a longer line ends with the marker " [line cut at 8192 bytes]".' },
    },
  },
  LogPage: {
    type: 'object',
    required: ['items', 'next'],
    properties: {
      items: { type: 'array', items: ref('schemas', 'LogLine'), description: 'The newest `limit` matching lines, oldest first.' },
      next: { type: 'integer', description: 'The last line\'s seq (else `after`, else 0): pass it as `after` for newer lines.' },
    },
  },
  Me: {
    type: 'object',
    required: ['role'],
    properties: {
      role: { enum: [...ROLES] },
      token_name: { type: 'string', description: 'The API token\'s name; absent for ADMIN_TOKEN and ADMIN_PASSWORD.' },
    },
  },
  ProcessList: listOf('Process'),
  FormatHandler: {
    type: 'object',
    required: ['id', 'format_key', 'plugin_id', 'handler_type', 'display_name', 'extensions', 'is_enabled', 'priority', 'capabilities', 'repository_count', 'replaces_core'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      format_key: { type: 'string' },
      plugin_id: nullable('string', { format: 'uuid', description: 'null for core handlers.' }),
      handler_type: { enum: [...HANDLER_TYPES] },
      display_name: { type: 'string' },
      description: nullable('string'),
      extensions: { type: 'array', items: { type: 'string' } },
      is_enabled: { type: 'boolean' },
      priority: { type: 'integer' },
      capabilities: ref('schemas', 'Capabilities'),
      repository_count: { type: 'integer' },
      replaces_core: { type: 'boolean', description: 'A plugin installed with replace_core serves this core key now (handler_type wasm, its plugin_id).' },
      created_at: { type: 'string', format: 'date-time' },
      updated_at: { type: 'string', format: 'date-time' },
    },
  },
  FormatHandlerList: {
    type: 'object',
    required: ['items', 'total'],
    properties: { items: { type: 'array', items: ref('schemas', 'FormatHandler') }, total: { type: 'integer' } },
  },
  FormatTestResult: {
    type: 'object',
    required: ['success', 'format_key', 'handler_type', 'execution_time_ms', 'validation_result'],
    properties: {
      success: { type: 'boolean' },
      format_key: { type: 'string' },
      handler_type: { enum: [...HANDLER_TYPES] },
      execution_time_ms: { type: 'number' },
      memory_used_bytes: nullable('integer'),
      metadata: nullable('object'),
      validation_result: {
        type: 'object',
        required: ['valid', 'errors'],
        properties: { valid: { type: 'boolean' }, errors: { type: 'array', items: { type: 'string' } } },
      },
      error: nullable('string'),
    },
  },
  Repository: {
    type: 'object',
    required: ['id', 'key', 'format', 'description', 'public', 'index_generated_at', 'index_error', 'created_at', 'updated_at'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      key: { type: 'string', pattern: REPOSITORY_KEY.source },
      format: { type: 'string', description: 'A format key.' },
      description: nullable('string'),
      public: { type: 'boolean', description: 'Readable anonymously through its download and /ext routes.' },
      index_generated_at: nullable('string', { format: 'date-time', description: 'When the index was last generated; null before the first run or for a format without an index.' }),
      index_error: nullable('string', { description: 'Why the latest index run failed; null when it succeeded.' }),
      created_at: { type: 'string', format: 'date-time' },
      updated_at: { type: 'string', format: 'date-time' },
    },
  },
  Artifact: {
    type: 'object',
    required: ['path', 'size_bytes', 'checksum_sha256', 'version', 'content_type', 'metadata', 'created_at', 'updated_at'],
    properties: {
      path: { type: 'string', maxLength: MAX_PATH_LENGTH },
      size_bytes: { type: 'integer' },
      checksum_sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      version: nullable('string', { description: "From the format handler's metadata." }),
      content_type: { type: 'string', description: 'From the format handler; application/octet-stream when it gave none that is valid.' },
      metadata: { type: 'object', description: 'The metadata record the format handler returned.' },
      created_at: { type: 'string', format: 'date-time' },
      updated_at: { type: 'string', format: 'date-time' },
    },
  },
  ArtifactList: {
    type: 'object',
    required: ['items', 'total'],
    properties: { items: { type: 'array', items: ref('schemas', 'Artifact') }, total: { type: 'integer' } },
  },
  IndexFileList: {
    type: 'object',
    required: ['items', 'total', 'generated_at', 'error'],
    properties: {
      items: {
        type: 'array',
        items: {
          type: 'object',
          required: ['path', 'size_bytes', 'checksum_sha256', 'content_type'],
          properties: { path: { type: 'string' }, size_bytes: { type: 'integer' }, checksum_sha256: { type: 'string' }, content_type: { type: 'string' } },
        },
      },
      total: { type: 'integer' },
      generated_at: nullable('string', { format: 'date-time' }),
      error: nullable('string'),
    },
  },
  RepositoryList: {
    type: 'object',
    required: ['items', 'total'],
    properties: { items: { type: 'array', items: ref('schemas', 'Repository') }, total: { type: 'integer' } },
  },
  RepositoryCreate: {
    type: 'object',
    required: ['key', 'format'],
    additionalProperties: false,
    properties: {
      key: { type: 'string', pattern: REPOSITORY_KEY.source },
      format: { type: 'string', description: 'The key of an enabled format handler.' },
      description: { type: 'string' },
      public: { type: 'boolean', default: false },
    },
  },
  GitInstall: {
    type: 'object',
    required: ['url'],
    additionalProperties: false,
    properties: {
      url: { type: 'string', description: 'https (or ssh) URL of the repository.' },
      ref: { type: 'string', description: 'Branch, tag or commit; the default branch when absent.' },
      path: { type: 'string', description: 'Folder holding plugin.toml, for repositories of several plugins.' },
      replace_core: {
        type: 'boolean',
        default: false,
        description: 'Serve a core format key in place of its core handler (which serves again when the plugin is disabled or uninstalled). Without it a core key is refused with 409 format_key_conflict.',
      },
    },
  },
  LocalInstall: {
    type: 'object',
    required: ['path'],
    additionalProperties: false,
    properties: {
      path: { type: 'string', description: 'A folder inside PLUGINS_LOCAL_ROOTS.' },
      replace_core: {
        type: 'boolean',
        default: false,
        description: 'Serve a core format key in place of its core handler (which serves again when the plugin is disabled or uninstalled). Without it a core key is refused with 409 format_key_conflict.',
      },
    },
  },
  ZipUpload: {
    type: 'object',
    description: `The ZIP in one of the fields ${ZIP_FIELDS.join(', ')}.`,
    properties: Object.fromEntries(ZIP_FIELDS.map((field) => [field, { type: 'string', contentMediaType: 'application/zip' }])),
  },
  ZipInstall: {
    type: 'object',
    description: `The ZIP in one of the fields ${ZIP_FIELDS.join(', ')}; \`replace_core\` as a field or a query parameter.`,
    properties: {
      ...Object.fromEntries(ZIP_FIELDS.map((field) => [field, { type: 'string', contentMediaType: 'application/zip' }])),
      replace_core: { enum: ['true', 'false'], description: 'Serve a core format key in place of its core handler (see GitInstall).' },
    },
  },
  ReloadRequest: {
    type: 'object',
    additionalProperties: false,
    properties: { ref: { type: 'string', description: 'Git ref to reload from; absent: the recorded source again.' } },
  },
  FormatTestJson: {
    type: 'object',
    required: ['path', 'content'],
    additionalProperties: false,
    properties: {
      path: { type: 'string', description: 'The artifact path the handler is told.' },
      content: { type: 'string', description: 'The artifact: text, or base64 when `base64` is true.' },
      base64: { type: 'boolean', default: false },
    },
  },
  FormatTestUpload: {
    type: 'object',
    required: ['file'],
    properties: {
      file: { type: 'string', contentMediaType: 'application/octet-stream' },
      path: { type: 'string', description: "Defaults to the uploaded file's name." },
    },
  },
  HealthReport: {
    type: 'object',
    required: ['status', 'checks'],
    properties: {
      status: { enum: [...HEALTH_STATUSES] },
      checks: {
        type: 'object',
        properties: {
          database: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean' }, error: { type: 'string' } } },
          plugins: {
            type: 'object',
            description: 'Judged on this node: `ok` when every plugin meant to be active runs here; each one that does not is in `failing`.',
            properties: {
              ok: { type: 'boolean' },
              active: { type: 'integer' },
              running: { type: 'integer' },
              error: { type: 'integer', description: 'Of `failing`, those quarantined or failed to start here.' },
              failing: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string', format: 'uuid' },
                    name: { type: 'string' },
                    version: { type: 'string' },
                    state: { enum: [...FAILING_PLUGIN_STATES] },
                    message: nullable('string'),
                  },
                },
              },
            },
          },
          cluster: {
            type: 'object',
            description: 'Absent when the database does not answer. `ok`: this node\'s own heartbeat is current.',
            properties: { ok: { type: 'boolean' }, nodes_up: { type: 'integer' }, nodes_lost: { type: 'integer' } },
          },
        },
      },
    },
  },
  Readiness: { type: 'object', required: ['status'], properties: { status: { enum: [...READINESS_STATES] } } },
  ClusterNode: {
    type: 'object',
    required: ['node_id', 'url', 'state', 'started_at', 'last_seen_at', 'version', 'plugins'],
    properties: {
      node_id: { type: 'string' },
      url: nullable('string', { description: "The node's NODE_URL." }),
      state: {
        enum: [...NODE_STATES],
        description: '`lost`: no heartbeat for CLUSTER_NODE_TIMEOUT_MS (by the database\'s clock); `leaving`: stopped cleanly.',
      },
      started_at: { type: 'string', format: 'date-time' },
      last_seen_at: { type: 'string', format: 'date-time' },
      version: { type: 'string', description: "The node's plugin-keeper version." },
      plugins: {
        type: 'object',
        required: ['running', 'error'],
        properties: { running: { type: 'integer' }, error: { type: 'integer' } },
      },
    },
  },
  ClusterNodeList: listOf('ClusterNode'),
};

function limitProperties(): Record<string, Schema> {
  return Object.fromEntries(
    Object.entries(LIMIT_RANGES).map(([name, bounds]) => [name, { type: 'integer', minimum: bounds.min, maximum: bounds.max }]),
  );
}

const query = (name: string, schema: Schema, description: string) => ({ name, in: 'query', required: false, schema, description });

const PARAMETERS: Record<string, Schema> = {
  PluginId: { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
  FormatKey: { name: 'format_key', in: 'path', required: true, schema: { type: 'string' } },
  Status: query('status', { enum: [...PLUGIN_STATUSES] }, 'Only plugins with this status.'),
  PluginType: query('plugin_type', { enum: [...PLUGIN_TYPES] }, 'Only plugins of this type.'),
  Page: query('page', { type: 'integer', minimum: PAGE_RANGE.min, default: 1 }, '1-based page number.'),
  PerPage: query('per_page', { type: 'integer', minimum: PER_PAGE_RANGE.min, maximum: PER_PAGE_RANGE.max, default: DEFAULT_PER_PAGE }, 'Page size.'),
  Severity: query('severity', { enum: [...EVENT_SEVERITIES] }, 'Only events of this severity.'),
  LogAfter: query('after', { type: 'integer', minimum: 0 }, 'Only lines numbered above this (a previous `next`).'),
  LogSince: query('since', { type: 'string' }, 'Only lines written since an RFC 3339 time, or a duration back from now: `30s`, `10m`, `2h`, `1d`.'),
  LogStream: query('stream', { enum: [...LOG_STREAMS] }, 'Only lines of this stream.'),
  LogLimit: query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, 'Most lines returned (the newest).'),
  Limit: query('limit', { type: 'integer', minimum: EVENT_LIMIT_RANGE.min, maximum: EVENT_LIMIT_RANGE.max, default: DEFAULT_EVENT_LIMIT }, 'Most events returned.'),
  ReplaceCore: query('replace_core', { type: 'boolean', default: false }, 'Serve a core format key in place of its core handler (also a multipart field).'),
  Force: query('force', { type: 'boolean', default: false }, 'Uninstall even when repositories use the format.'),
  RepositoryKey: { name: 'key', in: 'path', required: true, schema: { type: 'string', pattern: REPOSITORY_KEY.source } },
  ArtifactPath: { name: 'path', in: 'path', required: true, schema: { type: 'string', maxLength: MAX_PATH_LENGTH }, description: 'Relative to the repository; may hold `/`.' },
  RepoKey: { name: 'repo_key', in: 'path', required: true, schema: { type: 'string', pattern: REPOSITORY_KEY.source } },
  Prefix: query('prefix', { type: 'string' }, 'Only artifacts whose path starts with this.'),
  Overwrite: query('overwrite', { type: 'boolean', default: false }, 'Replace an artifact already at the path.'),
  FormatFilter: query('format', { type: 'string' }, 'Only repositories of this format (400 when it names no format handler and no repository).'),
  HandlerType: query('handler_type', { enum: [...HANDLER_TYPES] }, 'Only handlers of this type.'),
  Enabled: query('enabled', { type: 'boolean' }, 'Only enabled (true) or disabled (false) handlers.'),
};

const ERROR_RESPONSES: Record<string, [number, string]> = {
  BadRequest: [400, 'Invalid input: the message and `validation_errors` name each parameter or field; `invalid_host` for a Host that is not served.'],
  Unauthorized: [401, `No valid credentials (\`WWW-Authenticate: ${WWW_AUTHENTICATE}\`).`],
  Forbidden: [403, 'The caller is a reader and this call needs the admin role.'],
  NotFound: [404, 'No such plugin, format handler, repository or route.'],
  Conflict: [409, 'A conflict; `error` says which (see the contract).'],
  PayloadTooLarge: [413, 'The body or upload is over its limit.'],
  UnsupportedMediaType: [415, 'The route does not take this Content-Type.'],
  Unprocessable: [422, 'The plugin or its start failed validation; `validation_errors` lists every problem.'],
  PluginCrashed: [
    PLUGIN_FAILURE_STATUS.plugin_crashed,
    '`plugin_crashed`: the plugin process died or trapped mid-call; or `plugin_invalid_response`: the plugin returned something out of bounds (the message names the field).',
  ],
  Unavailable: [503, '`format_unavailable` (plugin disabled, quarantined or uninstalled), `database_unavailable`, or `too_many_streams` (this node follows logs for 32 clients already).'],
  Timeout: [504, '`plugin_timeout` (names the limit in ms), or a git clone over 60 s.'],
  MemoryExceeded: [PLUGIN_FAILURE_STATUS.plugin_memory_exceeded, '`plugin_memory_exceeded` (names the limit in MB).'],
  Internal: [500, '`internal_error`: the message quotes the request id it was logged under.'],
};

const RESPONSES = Object.fromEntries(
  Object.entries(ERROR_RESPONSES).map(([name, [, description]]) => [name, { description, content: json(ref('schemas', 'Error')) }]),
);

type ErrorName = keyof typeof ERROR_RESPONSES;

interface OperationSpec {
  id: string;
  summary: string;
  tag: 'plugins' | 'formats' | 'repositories' | 'native' | 'cluster' | 'health';
  parameters?: string[];
  body?: Record<string, { schema: Schema }>;
  success: [number, string, string | null];
  errors?: ErrorName[];
  /** Answers not in the error catalogue (a status whose body is not the error body). */
  also?: Record<number, { description: string; schema: string }>;
  /** Probes take no credentials. */
  anonymous?: boolean;
}

function operation(spec: OperationSpec): Operation {
  const [status, description, schema] = spec.success;
  const errors: ErrorName[] = [...(spec.anonymous ? [] : (['Unauthorized', 'Forbidden'] as ErrorName[])), ...(spec.errors ?? []), 'Internal'];
  return {
    operationId: spec.id,
    summary: spec.summary,
    tags: [spec.tag],
    ...(spec.anonymous && { security: [] }),
    ...(spec.parameters && { parameters: spec.parameters.map((name) => ref('parameters', name)) }),
    ...(spec.body && { requestBody: { required: true, content: spec.body } }),
    responses: {
      [status]: { description, ...(schema && { content: json(ref('schemas', schema)) }) },
      ...Object.fromEntries(errors.map((name) => [ERROR_RESPONSES[name][0], ref('responses', name)])),
      ...Object.fromEntries(
        Object.entries(spec.also ?? {}).map(([code, answer]) => [code, { description: answer.description, content: json(ref('schemas', answer.schema)) }]),
      ),
    },
  };
}

const jsonBody = (schema: string) => ({ 'application/json': { schema: ref('schemas', schema) } });
const multipartBody = (schema: string) => ({ 'multipart/form-data': { schema: ref('schemas', schema) } });

/** Plugin routes, relative to each of PLUGIN_MOUNTS. */
const PLUGIN_PATHS: Record<string, PathItem> = {
  '': {
    get: operation({
      id: 'listPlugins',
      summary: 'List plugins',
      tag: 'plugins',
      parameters: ['Status', 'PluginType', 'Page', 'PerPage'],
      success: [200, 'A page of plugins, ordered by name.', 'PluginList'],
      errors: ['BadRequest'],
    }),
  },
  '/install/git': {
    post: operation({
      id: 'installPluginFromGit',
      summary: 'Install a plugin from a Git repository',
      tag: 'plugins',
      body: jsonBody('GitInstall'),
      success: [201, 'Installed.', 'InstalledPlugin'],
      errors: ['BadRequest', 'NotFound', 'Conflict', 'UnsupportedMediaType', 'Unprocessable', 'Timeout'],
    }),
  },
  '/install/zip': {
    post: operation({
      id: 'installPluginFromZip',
      summary: 'Install a plugin from an uploaded ZIP',
      tag: 'plugins',
      parameters: ['ReplaceCore'],
      body: multipartBody('ZipInstall'),
      success: [201, 'Installed.', 'InstalledPlugin'],
      errors: ['BadRequest', 'Conflict', 'PayloadTooLarge', 'UnsupportedMediaType', 'Unprocessable'],
    }),
  },
  '/install/local': {
    post: operation({
      id: 'installPluginFromLocal',
      summary: 'Install a plugin from a folder on the server',
      tag: 'plugins',
      body: jsonBody('LocalInstall'),
      success: [201, 'Installed.', 'InstalledPlugin'],
      errors: ['BadRequest', 'Conflict', 'UnsupportedMediaType', 'Unprocessable'],
    }),
  },
  '/{id}': {
    get: operation({
      id: 'getPlugin',
      summary: 'Get a plugin',
      tag: 'plugins',
      parameters: ['PluginId'],
      success: [200, 'The plugin.', 'Plugin'],
      errors: ['BadRequest', 'NotFound'],
    }),
    delete: operation({
      id: 'uninstallPlugin',
      summary: 'Uninstall a plugin',
      tag: 'plugins',
      parameters: ['PluginId', 'Force'],
      success: [204, 'Uninstalled: the plugin, its format handler, processes and files are gone.', null],
      errors: ['BadRequest', 'NotFound', 'Conflict'],
    }),
  },
  '/{id}/enable': {
    post: operation({
      id: 'enablePlugin',
      summary: "Start a plugin's processes and enable its format handler",
      tag: 'plugins',
      parameters: ['PluginId'],
      success: [200, 'Enabled.', 'Plugin'],
      errors: ['BadRequest', 'NotFound', 'Conflict', 'Unprocessable'],
    }),
  },
  '/{id}/disable': {
    post: operation({
      id: 'disablePlugin',
      summary: 'Stop admitting calls, drain, stop the processes, disable the handler',
      tag: 'plugins',
      parameters: ['PluginId'],
      success: [200, 'Disabled.', 'Plugin'],
      errors: ['BadRequest', 'NotFound'],
    }),
  },
  '/{id}/reload': {
    post: operation({
      id: 'reloadPlugin',
      summary: 'Replace the running version without dropping calls',
      tag: 'plugins',
      parameters: ['PluginId'],
      body: { ...jsonBody('ReloadRequest'), ...multipartBody('ZipUpload') },
      success: [200, 'Reloaded (the body is optional: none reloads the recorded source), with what changed and any warnings, as an install answers.', 'InstalledPlugin'],
      errors: ['BadRequest', 'NotFound', 'PayloadTooLarge', 'UnsupportedMediaType', 'Unprocessable'],
    }),
  },
  '/{id}/limits': {
    put: operation({
      id: 'setPluginLimits',
      summary: "Override a plugin's resource limits",
      tag: 'plugins',
      parameters: ['PluginId'],
      body: jsonBody('LimitsUpdate'),
      success: [200, 'The plugin with its new limits.', 'Plugin'],
      errors: ['BadRequest', 'NotFound', 'UnsupportedMediaType'],
    }),
  },
  '/{id}/events': {
    get: operation({
      id: 'listPluginEvents',
      summary: "A plugin's audit log (kept after uninstall)",
      tag: 'plugins',
      parameters: ['PluginId', 'Severity', 'Limit'],
      success: [200, 'Events, newest first.', 'EventList'],
      errors: ['BadRequest', 'NotFound'],
    }),
  },
  '/{id}/logs': {
    get: operation({
      id: 'listPluginLogs',
      summary: "A plugin's log lines, from every node",
      tag: 'plugins',
      parameters: ['PluginId', 'LogAfter', 'LogSince', 'LogStream', 'LogLimit'],
      success: [200, 'The newest `limit` matching lines, oldest first, and the cursor for newer ones.', 'LogPage'],
      errors: ['BadRequest', 'NotFound'],
    }),
  },
  '/{id}/logs/stream': {
    get: operation({
        id: 'followPluginLogs',
        summary: "A plugin's new log lines as Server-Sent Events",
        tag: 'plugins',
        parameters: ['PluginId', 'LogAfter'],
        success: [200, 'Server-Sent Events until the client goes away: `id:` the seq, `data:` a LogLine as JSON. Resumes after `Last-Event-ID` (or `after`); without either, from the newest line on.', null],
        errors: ['BadRequest', 'NotFound', 'Unavailable'],
      }),
  },
  '/{id}/processes': {
    get: operation({
      id: 'listPluginProcesses',
      summary: "A plugin's processes",
      tag: 'plugins',
      parameters: ['PluginId'],
      success: [200, 'Processes.', 'ProcessList'],
      errors: ['BadRequest', 'NotFound'],
    }),
  },
};

/** Format-handler routes, relative to each of FORMAT_MOUNTS. */
const FORMAT_PATHS: Record<string, PathItem> = {
  '': {
    get: operation({
      id: 'listFormatHandlers',
      summary: 'List format handlers',
      tag: 'formats',
      parameters: ['HandlerType', 'Enabled'],
      success: [200, 'Format handlers, ordered by key.', 'FormatHandlerList'],
      errors: ['BadRequest'],
    }),
  },
  '/{format_key}': {
    get: operation({
      id: 'getFormatHandler',
      summary: 'Get a format handler',
      tag: 'formats',
      parameters: ['FormatKey'],
      success: [200, 'The format handler.', 'FormatHandler'],
      errors: ['NotFound'],
    }),
  },
  '/{format_key}/enable': {
    post: operation({
      id: 'enableFormatHandler',
      summary: 'Enable a format handler',
      tag: 'formats',
      parameters: ['FormatKey'],
      success: [200, 'Enabled.', 'FormatHandler'],
      errors: ['NotFound', 'Conflict'],
    }),
  },
  '/{format_key}/disable': {
    post: operation({
      id: 'disableFormatHandler',
      summary: 'Disable a format handler (existing repositories stay readable)',
      tag: 'formats',
      parameters: ['FormatKey'],
      success: [200, 'Disabled.', 'FormatHandler'],
      errors: ['NotFound', 'Conflict'],
    }),
  },
  '/{format_key}/test': {
    post: operation({
      id: 'testFormatHandler',
      summary: 'Run a format handler on an artifact',
      tag: 'formats',
      parameters: ['FormatKey'],
      body: { ...multipartBody('FormatTestUpload'), ...jsonBody('FormatTestJson') },
      success: [200, 'The handler accepted the artifact.', 'FormatTestResult'],
      errors: ['BadRequest', 'NotFound', 'PayloadTooLarge', 'UnsupportedMediaType', 'PluginCrashed', 'Unavailable', 'Timeout', 'MemoryExceeded'],
      also: { 422: { description: 'The handler rejected the artifact or failed: the same result, with `success: false`.', schema: 'FormatTestResult' } },
    }),
  },
};

/** Repository routes, relative to each of REPOSITORY_MOUNTS. */
const REPOSITORY_PATHS: Record<string, PathItem> = {
  '': {
    get: operation({
      id: 'listRepositories',
      summary: 'List repositories',
      tag: 'repositories',
      parameters: ['FormatFilter'],
      success: [200, 'Repositories, ordered by key.', 'RepositoryList'],
      errors: ['BadRequest'],
    }),
    post: operation({
      id: 'createRepository',
      summary: 'Create a repository',
      tag: 'repositories',
      body: jsonBody('RepositoryCreate'),
      success: [201, 'Created.', 'Repository'],
      errors: ['BadRequest', 'Conflict', 'UnsupportedMediaType'],
    }),
  },
  '/{key}': {
    get: operation({
      id: 'getRepository',
      summary: 'Get a repository',
      tag: 'repositories',
      parameters: ['RepositoryKey'],
      success: [200, 'The repository.', 'Repository'],
      errors: ['NotFound'],
    }),
    delete: operation({
      id: 'deleteRepository',
      summary: 'Delete a repository, its artifacts and its index',
      tag: 'repositories',
      parameters: ['RepositoryKey'],
      success: [204, 'Deleted.', null],
      errors: ['NotFound'],
    }),
  },
  '/{key}/artifacts': {
    get: operation({
      id: 'listArtifacts',
      summary: 'List artifacts (anonymous on a public repository)',
      tag: 'repositories',
      parameters: ['RepositoryKey', 'Prefix'],
      success: [200, 'Artifacts, ordered by path.', 'ArtifactList'],
      errors: ['NotFound'],
    }),
  },
  '/{key}/artifacts/{path}': {
    put: operation({
      id: 'uploadArtifact',
      summary: 'Upload an artifact: validated and parsed by the format handler, then indexed',
      tag: 'repositories',
      parameters: ['RepositoryKey', 'ArtifactPath', 'Overwrite'],
      body: { '*/*': { schema: { type: 'string', format: 'binary' } } },
      success: [201, 'Stored.', 'Artifact'],
      errors: ['BadRequest', 'NotFound', 'Conflict', 'PayloadTooLarge', 'Unprocessable', 'PluginCrashed', 'Unavailable', 'Timeout', 'MemoryExceeded'],
    }),
    get: operation({
      id: 'downloadArtifact',
      summary: 'Download an artifact (anonymous on a public repository)',
      tag: 'repositories',
      parameters: ['RepositoryKey', 'ArtifactPath'],
      success: [200, 'The bytes, streamed, with ETag and Content-Type; 304 for a matching If-None-Match; 206 for one byte range, 416 for a range past the end.', null],
      errors: ['BadRequest', 'NotFound'],
    }),
    delete: operation({
      id: 'deleteArtifact',
      summary: 'Delete an artifact (the index is regenerated)',
      tag: 'repositories',
      parameters: ['RepositoryKey', 'ArtifactPath'],
      success: [204, 'Deleted.', null],
      errors: ['BadRequest', 'NotFound'],
    }),
  },
  '/{key}/index': {
    get: operation({
      id: 'listIndexFiles',
      summary: "The repository's generated index files and the last run's outcome",
      tag: 'repositories',
      parameters: ['RepositoryKey'],
      success: [200, 'Index files, ordered by path.', 'IndexFileList'],
      errors: ['NotFound'],
    }),
  },
  '/{key}/index/{path}': {
    get: operation({
      id: 'getIndexFile',
      summary: 'One generated index file (anonymous on a public repository)',
      tag: 'repositories',
      parameters: ['RepositoryKey', 'ArtifactPath'],
      success: [200, 'The file, with ETag and its Content-Type.', null],
      errors: ['BadRequest', 'NotFound'],
    }),
  },
};

/** Every method of `/ext`: the plugin decides what each means. */
const nativeOperation = (method: string): Operation =>
  operation({
    id: `native${method[0].toUpperCase()}${method.slice(1)}`,
    summary: `${method.toUpperCase()} through the native protocol of the format's plugin (anonymous on a public repository)`,
    tag: 'native',
    parameters: ['FormatKey', 'RepoKey', 'ArtifactPath'],
    success: [200, "The plugin's status, headers and body.", null],
    errors: ['NotFound', 'PayloadTooLarge', 'Unprocessable', 'PluginCrashed', 'Unavailable', 'Timeout', 'MemoryExceeded'],
  });

const NATIVE_PATHS: Record<string, PathItem> = {
  [`${EXT_PREFIX}/{format_key}/{repo_key}/{path}`]: Object.fromEntries(
    (['get', 'head', 'post', 'put', 'patch', 'delete'] as const).map((method) => [method, nativeOperation(method)]),
  ),
};

const CLUSTER_PATHS: Record<string, PathItem> = {
  '/nodes': {
    get: operation({
      id: 'listClusterNodes',
      summary: 'The nodes sharing the database: up, lost or leaving',
      tag: 'cluster',
      success: [200, 'Every node known, ordered by node id; pruned after CLUSTER_NODE_PRUNE_MS without a heartbeat.', 'ClusterNodeList'],
    }),
  },
};

const OTHER_PATHS: Record<string, PathItem> = {
  '/health': {
    get: operation({
      id: 'health',
      summary: 'Liveness and the state of the database and plugins',
      tag: 'health',
      anonymous: true,
      success: [200, 'Healthy.', 'HealthReport'],
      also: { 503: { description: 'The database check failed.', schema: 'HealthReport' } },
    }),
  },
  '/ready': {
    get: operation({
      id: 'ready',
      summary: 'Whether start-up is over',
      tag: 'health',
      anonymous: true,
      success: [200, 'Ready.', 'Readiness'],
      also: { 503: { description: 'Start-up is not over, or the node is stopping (from SIGTERM on).', schema: 'Readiness' } },
    }),
  },
  [ME_PATH]: {
    get: operation({ id: 'me', summary: 'Who the credentials are: role, and the token name', tag: 'health', success: [200, 'The caller.', 'Me'] }),
  },
  [OPENAPI_PATH]: {
    get: operation({ id: 'openapi', summary: 'This document', tag: 'health', success: [200, 'OpenAPI 3.1.', null] }),
  },
};

/** Every relative path under every mount; the aliases (later mounts) repeat the operations without their ids. */
function mounted(mounts: readonly string[], paths: Record<string, PathItem>): Record<string, PathItem> {
  return Object.fromEntries(
    mounts.flatMap((mount, index) =>
      Object.entries(paths).map(([relative, item]) => [
        mount + relative,
        index === 0 ? item : Object.fromEntries(Object.entries(item).map(([method, op]) => [method, withoutId(op, mount + relative)])),
      ]),
    ),
  );
}

function withoutId(op: Operation, path: string): Operation {
  const { operationId, ...rest } = op;
  return { ...rest, description: `Alias of \`${operationId}\` at ${path}.` };
}

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'plugin-keeper',
      version: '1',
      description: `Supervisor of WebAssembly format-handler plugins.\n${DECISIONS}`,
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { apiKey: [] }, { basic: [] }],
    tags: [
      { name: 'plugins', description: `Also under ${PLUGIN_MOUNTS.slice(1).join(', ')}.` },
      { name: 'formats', description: `Also under ${FORMAT_MOUNTS.slice(1).join(', ')}.` },
      { name: 'repositories', description: 'Repositories of artifacts, one format each; their artifacts and generated index.' },
      { name: 'native', description: "Package managers' own protocols, served by plugins with handle_request." },
      { name: 'cluster', description: 'The supervisors sharing the database.' },
      { name: 'health', description: 'Probes and this document.' },
    ],
    paths: { ...mounted(PLUGIN_MOUNTS, PLUGIN_PATHS), ...mounted(FORMAT_MOUNTS, FORMAT_PATHS), ...mounted(REPOSITORY_MOUNTS, REPOSITORY_PATHS), ...mounted(CLUSTER_MOUNTS, CLUSTER_PATHS), ...NATIVE_PATHS, ...OTHER_PATHS },
    components: {
      schemas: SCHEMAS,
      parameters: PARAMETERS,
      responses: RESPONSES,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API token (`pk_...`) or ADMIN_TOKEN.' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'The same tokens as bearer.' },
        basic: { type: 'http', scheme: 'basic', description: '`admin:<ADMIN_PASSWORD>`, or any user name with a token as the password.' },
      },
    },
  };
}
