/** The API's answers as the page reads them (shared/contract/api.md and operators.md). */
export interface Me {
  role: 'admin' | 'reader';
  token_name?: string;
}

export interface Limits {
  memory_mb: number;
  timeout_secs: number;
  instances: number;
}

export interface NodeState {
  node_id: string;
  version: string;
  state: string;
  pids: number[];
  error_message: string | null;
}

export interface Plugin {
  id: string;
  name: string;
  version: string;
  display_name: string | null;
  description: string | null;
  status: 'active' | 'disabled' | 'error';
  source_type: string;
  format_key: string;
  resource_limits: Limits;
  error_message: string | null;
  nodes: NodeState[];
}

export interface LastExit {
  code: number | null;
  signal: string | null;
  reason: string;
  message?: string;
  at?: string;
  stderr_tail?: string[] | string;
}

export interface Process {
  node_id: string;
  pid: number | null;
  version: string;
  state: string;
  started_at: string | null;
  rss_bytes: number | null;
  cpu_percent: number | null;
  wasm_memory_bytes: number | null;
  in_flight: number;
  calls_total: number;
  errors_total: number;
  restarts: number;
  last_exit: LastExit | null;
}

export interface Format {
  format_key: string;
  display_name: string;
  handler_type: 'core' | 'wasm';
  plugin_id: string | null;
  is_enabled: boolean;
  extensions: string[];
  repository_count: number;
}

export interface PluginEvent {
  id: string;
  node_id: string | null;
  event_type: string;
  severity: 'info' | 'warning' | 'error';
  message: string;
  created_at: string;
}

export interface LogLine {
  seq: number;
  time: string;
  node_id: string;
  pid: number | null;
  version: string;
  stream: 'stdout' | 'stderr' | 'host';
  text: string;
}

export interface List<T> {
  items: T[];
}
