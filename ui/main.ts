/**
 * The dashboard: a token login, then every POLL_MS the plugins, their processes and the
 * formats (and the selected plugin's events and new log lines), drawn into four sections.
 * Admin actions show only when `/api/v1/me` says the token is an admin's; a failed action
 * shows the server's own message as a sentence.
 */
import { Api, ApiError } from './api.js';
import { Charts, History, type Sample } from './charts.js';
import { h, replaceKeepingFocus } from './dom.js';
import { clock, duration, mebibytes, percent, rate } from './format.js';
import type { Format, LastExit, List, LogLine, Me, Plugin, PluginEvent, Process } from './types.js';

const TOKEN_KEY = 'plugin-keeper.token';
const POLL_MS = 1500;
/** Log lines kept on the page (older ones leave the top). */
const LOG_LINES_SHOWN = 500;
const EVENTS_SHOWN = 30;

const root = document.getElementById('root')!;
const who = document.getElementById('who')!;
const notice = document.getElementById('notice')!;

function showNotice(text: string, kind: 'error' | 'ok'): void {
  notice.hidden = false;
  notice.className = `notice ${kind}`;
  notice.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  notice.replaceChildren(h('span', { class: 'notice-text' }, text), h('button', { type: 'button', class: 'quiet', onclick: () => hideNotice() }, 'Dismiss'));
}

function hideNotice(): void {
  notice.hidden = true;
  notice.replaceChildren();
}

// ---- Sign in ----

function showLogin(message?: string): void {
  who.hidden = true;
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const error = h('p', { class: 'error', role: 'alert' }, message ?? '');
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'login card', method: 'post', 'aria-labelledby': 'login-title' },
    h('h2', { id: 'login-title' }, 'Sign in'),
    h('p', { class: 'muted' }, 'Use an API token (admin or reader). It is kept for this browser tab only.'),
    h('label', { for: 'token' }, 'API token'),
    input,
    button,
    error,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    error.textContent = '';
    const api = new Api(token);
    try {
      const me = await api.get<Me>('/api/v1/me');
      sessionStorage.setItem(TOKEN_KEY, token);
      start(api, me);
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.message : String(failure);
      button.disabled = false;
      input.focus();
    }
  });
  root.replaceChildren(form);
  input.focus();
}

function signOut(message?: string): void {
  sessionStorage.removeItem(TOKEN_KEY);
  dashboard?.stop();
  dashboard = undefined;
  hideNotice();
  showLogin(message);
}

// ---- The dashboard ----

interface Counters {
  calls: number;
  errors: number;
  at: number;
}

interface Rates {
  calls: number | null;
  errors: number | null;
}

const processKey = (process: Process, index: number) => `${process.node_id}:${process.pid ?? `none${index}`}`;

class Dashboard {
  private plugins: Plugin[] = [];
  private formats: Format[] = [];
  private processes = new Map<string, Process[]>();
  private counters = new Map<string, Counters>();
  private rates = new Map<string, Rates>();
  private histories = new Map<string, History>();
  private events: PluginEvent[] = [];
  private logs = new LogFollower();
  private selected: string | undefined;
  private timer: number | undefined;
  private stopped = false;
  private busy = false;

  private readonly pluginSection = h('section', { class: 'card', 'aria-labelledby': 'plugins-title' });
  private readonly processSection = h('section', { class: 'card', 'aria-labelledby': 'processes-title' });
  private readonly detailSection = h('section', { class: 'card detail', 'aria-labelledby': 'detail-title' });
  private readonly formatSection = h('section', { class: 'card', 'aria-labelledby': 'formats-title' });
  private detail: Detail | undefined;

  constructor(
    private readonly api: Api,
    private readonly me: Me,
  ) {
    const role = me.role === 'admin' ? 'admin' : 'reader';
    who.hidden = false;
    who.replaceChildren(
      h('span', { class: `badge role-${role}`, id: 'role' }, role),
      h('span', { class: 'muted' }, me.token_name ?? ''),
      h('button', { type: 'button', class: 'quiet', onclick: () => signOut() }, 'Sign out'),
    );
    root.replaceChildren(this.pluginSection, this.processSection, this.detailSection, this.formatSection);
    document.addEventListener('visibilitychange', this.onVisible);
    void this.tick();
  }

  private readonly onVisible = () => {
    if (!document.hidden && !this.stopped) void this.tick();
  };

  get isAdmin(): boolean {
    return this.me.role === 'admin';
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    document.removeEventListener('visibilitychange', this.onVisible);
    this.detail?.destroy();
  }

  /** One round of reading; the next starts POLL_MS after this one ends, so rounds never overlap. */
  async tick(): Promise<void> {
    window.clearTimeout(this.timer);
    // A tab nobody looks at asks nothing; it catches up when shown again (onVisible).
    if (document.hidden) return;
    try {
      await this.refresh();
      if (notice.dataset.source === 'poll') {
        hideNotice();
        delete notice.dataset.source;
      }
    } catch (failure) {
      if (this.stopped) return;
      if (failure instanceof ApiError && failure.status === 401) return signOut(`Signed out: ${failure.message}`);
      showNotice(`Live data could not be read: ${failure instanceof Error ? failure.message : String(failure)}`, 'error');
      notice.dataset.source = 'poll';
    }
    if (!this.stopped) this.timer = window.setTimeout(() => void this.tick(), POLL_MS);
  }

  private async refresh(): Promise<void> {
    const [plugins, formats] = await Promise.all([
      this.api.get<List<Plugin>>('/api/v1/plugins?per_page=100'),
      this.api.get<List<Format>>('/api/v1/formats'),
    ]);
    const lists = await Promise.all(
      plugins.items.map((plugin) =>
        // A disabled plugin runs nowhere: no request for it.
        plugin.status === 'disabled' ? ([] as Process[]) : this.api.get<List<Process>>(`/api/v1/plugins/${plugin.id}/processes`).then(
          (answer) => answer.items,
          // Uninstalled between the two reads: it leaves the page at the next round.
          () => [] as Process[],
        ),
      ),
    );
    if (this.stopped) return;
    this.plugins = plugins.items;
    this.formats = formats.items;
    this.sample(lists);
    if (!this.plugins.some((plugin) => plugin.id === this.selected)) this.selected = this.plugins[0]?.id;
    if (this.selected) {
      const id = this.selected;
      const [events] = await Promise.all([
        this.api.get<List<PluginEvent>>(`/api/v1/plugins/${id}/events?limit=${EVENTS_SHOWN}`).catch(() => ({ items: [] })),
        this.logs.poll(this.api, id),
      ]);
      if (this.selected === id) this.events = events.items;
    }
    this.render();
  }

  /** Rates from the counters' change since the last round, and one history point per plugin. */
  private sample(lists: Process[][]): void {
    const now = Date.now();
    const seen = new Set<string>();
    this.plugins.forEach((plugin, index) => {
      const processes = lists[index];
      this.processes.set(plugin.id, processes);
      const samples: Sample[] = processes.map((process, processIndex) => {
        const key = processKey(process, processIndex);
        seen.add(key);
        const before = this.counters.get(key);
        const seconds = before ? (now - before.at) / 1000 : 0;
        const rates: Rates =
          before && seconds > 0 && process.calls_total >= before.calls
            ? { calls: (process.calls_total - before.calls) / seconds, errors: (process.errors_total - before.errors) / seconds }
            : { calls: null, errors: null };
        this.counters.set(key, { calls: process.calls_total, errors: process.errors_total, at: now });
        this.rates.set(key, rates);
        return {
          key,
          label: `${process.node_id} pid ${process.pid ?? '–'}`,
          rssMb: process.rss_bytes === null ? null : process.rss_bytes / 1048576,
          wasmMb: process.wasm_memory_bytes === null ? null : process.wasm_memory_bytes / 1048576,
          cpu: process.cpu_percent,
          callsPerSecond: rates.calls,
        };
      });
      let history = this.histories.get(plugin.id);
      if (!history) this.histories.set(plugin.id, (history = new History()));
      history.add(now / 1000, samples);
    });
    for (const key of this.counters.keys()) if (!seen.has(key)) this.counters.delete(key);
    for (const key of this.rates.keys()) if (!seen.has(key)) this.rates.delete(key);
    for (const id of this.histories.keys()) if (!this.plugins.some((plugin) => plugin.id === id)) this.histories.delete(id);
  }

  private render(): void {
    this.renderPlugins();
    this.renderProcesses();
    this.renderDetail();
    this.renderFormats();
  }

  private select(id: string): void {
    this.selected = id;
    this.events = [];
    this.render();
    void this.tick();
    document.getElementById('detail-title')?.focus();
  }

  private renderPlugins(): void {
    const rows = this.plugins.map((plugin) =>
      h(
        'tr',
        { class: plugin.id === this.selected ? 'selected' : null, 'data-plugin': plugin.name },
        h('td', {}, h('button', { type: 'button', class: 'link', 'data-key': `select:${plugin.id}`, 'aria-pressed': String(plugin.id === this.selected), onclick: () => this.select(plugin.id) }, plugin.name)),
        h('td', {}, statusBadge(plugin.status)),
        h('td', {}, plugin.version),
        h('td', { class: 'nodes' }, plugin.nodes.length ? plugin.nodes.map((node) => h('div', {}, `${node.node_id}: ${node.version} ${node.state}`)) : h('span', { class: 'muted' }, 'no node')),
        h('td', {}, h('code', {}, plugin.format_key)),
        h('td', { class: 'num' }, `${plugin.resource_limits.memory_mb} MiB · ${plugin.resource_limits.timeout_secs} s · ×${plugin.resource_limits.instances}`),
        h('td', { class: 'num' }, String(this.processes.get(plugin.id)?.length ?? 0)),
      ),
    );
    replaceKeepingFocus(
      this.pluginSection,
      h('h2', { id: 'plugins-title' }, 'Plugins'),
      rows.length
        ? table(['Plugin', 'Status', 'Version', 'Nodes', 'Format', 'Limits (memory · time · instances)', 'Processes'], rows, 'plugins')
        : h('p', { class: 'muted' }, 'No plugin is installed.'),
    );
  }

  private renderProcesses(): void {
    const now = Date.now();
    const rows = this.plugins.flatMap((plugin) =>
      (this.processes.get(plugin.id) ?? []).map((process, index) => {
        const key = processKey(process, index);
        const rates = this.rates.get(key) ?? { calls: null, errors: null };
        return h(
          'tr',
          { 'data-plugin': plugin.name, 'data-pid': process.pid ?? '' },
          h('td', {}, plugin.name),
          h('td', {}, process.node_id),
          h('td', { class: 'num pid' }, process.pid ?? '–'),
          h('td', {}, process.version),
          h('td', {}, h('span', { class: `state state-${process.state}` }, process.state)),
          h('td', { class: 'num' }, duration(process.started_at, now)),
          h('td', { class: 'num rss' }, mebibytes(process.rss_bytes)),
          h('td', { class: 'num' }, mebibytes(process.wasm_memory_bytes)),
          h('td', { class: 'num' }, percent(process.cpu_percent)),
          h('td', { class: 'num' }, rate(rates.calls)),
          h('td', { class: 'num' }, rate(rates.errors)),
          h('td', { class: 'num calls' }, process.calls_total),
          h('td', { class: 'num' }, process.errors_total),
          h('td', { class: 'num restarts' }, process.restarts),
          h('td', { class: 'exit' }, lastExit(process.last_exit, `exit:${plugin.id}:${key}`)),
        );
      }),
    );
    replaceKeepingFocus(
      this.processSection,
      h('h2', { id: 'processes-title' }, 'Processes'),
      rows.length
        ? table(['Plugin', 'Node', 'PID', 'Version', 'State', 'Uptime', 'RSS', 'Wasm memory', 'CPU', 'Calls/s', 'Errors/s', 'Calls', 'Errors', 'Restarts', 'Last exit'], rows, 'processes')
        : h('p', { class: 'muted' }, 'No plugin process is running.'),
    );
  }

  private renderDetail(): void {
    const plugin = this.plugins.find((candidate) => candidate.id === this.selected);
    if (!plugin) {
      this.detail?.destroy();
      this.detail = undefined;
      this.detailSection.hidden = true;
      return;
    }
    this.detailSection.hidden = false;
    if (this.detail?.pluginId !== plugin.id) {
      this.detail?.destroy();
      this.detail = new Detail(plugin.id, this.detailSection, this.isAdmin, (action) => this.act(plugin, action));
    }
    this.detail.show(plugin, this.histories.get(plugin.id), this.events, this.logs, this.busy);
  }

  private renderFormats(): void {
    const rows = this.formats.map((format) =>
      h(
        'tr',
        { 'data-format': format.format_key },
        h('td', {}, h('code', {}, format.format_key)),
        h('td', {}, format.display_name),
        h('td', {}, format.handler_type === 'core' ? 'core' : 'plugin'),
        h('td', {}, h('span', { class: `badge ${format.is_enabled ? 'ok' : 'off'}` }, format.is_enabled ? 'enabled' : 'disabled')),
        h('td', { class: 'num' }, format.repository_count),
        h('td', { class: 'muted' }, format.extensions.join(' ')),
      ),
    );
    replaceKeepingFocus(
      this.formatSection,
      h('h2', { id: 'formats-title' }, 'Formats'),
      table(['Format', 'Name', 'Handler', 'State', 'Repositories', 'Extensions'], rows, 'formats'),
    );
  }

  /** An admin action: its answer (or the server's sentence) in the notice, then a fresh round. */
  private async act(plugin: Plugin, action: Action): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.render();
    const base = `/api/v1/plugins/${plugin.id}`;
    try {
      switch (action.kind) {
        case 'enable':
          await this.api.call('POST', `${base}/enable`);
          showNotice(`${plugin.name} is enabled.`, 'ok');
          break;
        case 'disable':
          await this.api.call('POST', `${base}/disable`);
          showNotice(`${plugin.name} is disabled.`, 'ok');
          break;
        case 'reload': {
          const reloaded = await this.api.call<Plugin>('POST', `${base}/reload`);
          showNotice(`${plugin.name} is reloaded: version ${reloaded.version} serves now.`, 'ok');
          break;
        }
        case 'limits':
          await this.api.call('PUT', `${base}/limits`, action.limits);
          showNotice(`${plugin.name}'s limits are changed.`, 'ok');
          break;
        case 'uninstall':
          await this.api.call('DELETE', `${base}${action.force ? '?force=true' : ''}`);
          showNotice(`${plugin.name} is uninstalled.`, 'ok');
          break;
      }
      this.detail?.actionDone(action);
    } catch (failure) {
      const message = failure instanceof ApiError ? failure.message : String(failure);
      showNotice(`${capitalised(action.kind)} ${plugin.name} failed: ${message}`, 'error');
      if (failure instanceof ApiError && failure.status === 401) return signOut(`Signed out: ${message}`);
      this.detail?.actionFailed(action, failure);
    } finally {
      this.busy = false;
    }
    await this.tick();
  }
}

type Action =
  | { kind: 'enable' | 'disable' | 'reload' }
  | { kind: 'limits'; limits: Partial<Plugin['resource_limits']> }
  | { kind: 'uninstall'; force: boolean };

/** The selected plugin: what it is, its actions (admins), charts, events and following logs. */
class Detail {
  private readonly header = h('div', { class: 'detail-head' });
  private readonly actions = h('div', { class: 'actions' });
  private readonly limitsForm: HTMLFormElement | null;
  private readonly charts = new Charts();
  private readonly events = h('div', { class: 'events' });
  private readonly logBox = h('div', { class: 'log', role: 'log', tabindex: 0, 'aria-label': 'Log lines, newest last' });
  private readonly logState = h('p', { class: 'muted log-state' });
  private confirming: 'none' | 'confirm' | 'force' = 'none';
  private logsShown = 0;
  private plugin: Plugin | undefined;
  private busy = false;

  constructor(
    readonly pluginId: string,
    section: HTMLElement,
    private readonly admin: boolean,
    private readonly run: (action: Action) => void,
  ) {
    this.limitsForm = admin ? this.buildLimitsForm() : null;
    section.replaceChildren(
      this.header,
      admin ? h('div', { class: 'admin' }, this.actions, this.limitsForm) : h('p', { class: 'muted' }, 'Signed in as a reader: actions need an admin token.'),
      h('h3', {}, 'Last minutes'),
      this.charts.element,
      h(
        'div',
        { class: 'columns' },
        h('div', {}, h('h3', {}, 'Events'), this.events),
        h('div', {}, h('h3', {}, 'Logs ', h('span', { class: 'muted small' }, '(following)')), this.logState, this.logBox),
      ),
    );
  }

  destroy(): void {
    this.charts.destroy();
  }

  show(plugin: Plugin, history: History | undefined, events: PluginEvent[], logs: LogFollower, busy: boolean): void {
    const changed = JSON.stringify(plugin) !== JSON.stringify(this.plugin) || busy !== this.busy;
    this.plugin = plugin;
    this.busy = busy;
    if (changed) {
      replaceKeepingFocus(
        this.header,
        ...present([
        h('h2', { id: 'detail-title', tabindex: -1 }, plugin.display_name && plugin.display_name !== plugin.name ? `${plugin.name} — ${plugin.display_name}` : plugin.name),
        h('p', {}, statusBadge(plugin.status), ` version ${plugin.version} · format `, h('code', {}, plugin.format_key), ` · source ${plugin.source_type}`),
        plugin.description ? h('p', { class: 'muted' }, plugin.description) : null,
        plugin.error_message ? h('p', { class: 'error' }, plugin.error_message) : null,
        ]),
      );
      if (this.admin) this.renderActions();
    }
    if (history) this.charts.show(history);
    replaceKeepingFocus(
      this.events,
      events.length
        ? h(
            'ol',
            { class: 'event-list' },
            events.map((event) =>
              h(
                'li',
                { class: `severity-${event.severity}` },
                h('time', { datetime: event.created_at }, clock(event.created_at)),
                ' ',
                h('span', { class: 'event-type' }, event.event_type),
                event.node_id ? h('span', { class: 'muted' }, ` ${event.node_id}`) : null,
                h('div', {}, event.message),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No events yet.'),
    );
    this.showLogs(logs);
  }

  actionDone(action: Action): void {
    if (action.kind === 'uninstall') this.confirming = 'none';
    this.renderActions();
  }

  actionFailed(action: Action, failure: unknown): void {
    // A dependency conflict can be overridden: the next click is the forced uninstall.
    if (action.kind === 'uninstall' && failure instanceof ApiError && failure.status === 409 && !action.force) this.confirming = 'force';
    this.renderActions();
  }

  private renderActions(): void {
    const plugin = this.plugin;
    if (!plugin) return;
    const button = (key: string, label: string, onclick: () => void, extra: Record<string, string> = {}) =>
      // aria-disabled, not disabled: a disabled button drops the keyboard focus, and the
      // focus must stay on the button just pressed. Clicks while busy are ignored by act().
      h('button', { type: 'button', 'data-key': key, 'aria-disabled': this.busy ? 'true' : null, onclick, ...extra }, label);
    const enabled = plugin.status !== 'disabled';
    const uninstall =
      this.confirming === 'none'
        ? [button('uninstall', 'Uninstall…', () => this.confirm('confirm'), { class: 'danger-outline' })]
        : [
            h('span', { class: 'confirm' }, this.confirming === 'force' ? 'Repositories use it. Uninstall anyway?' : `Uninstall ${plugin.name}?`),
            button(this.confirming === 'force' ? 'uninstall-force' : 'uninstall-confirm', this.confirming === 'force' ? 'Uninstall anyway' : 'Uninstall', () => this.run({ kind: 'uninstall', force: this.confirming === 'force' }), { class: 'danger' }),
            button('uninstall-cancel', 'Cancel', () => this.confirm('none'), { class: 'quiet' }),
          ];
    replaceKeepingFocus(
      this.actions,
      // One key for both: focus stays on the toggle when it flips.
      button('toggle', enabled ? 'Disable' : 'Enable', () => this.run({ kind: enabled ? 'disable' : 'enable' })),
      button('reload', 'Reload', () => this.run({ kind: 'reload' })),
      ...uninstall,
    );
    if (this.limitsForm) {
      for (const [name, value] of Object.entries(plugin.resource_limits)) {
        const input = this.limitsForm.elements.namedItem(name) as HTMLInputElement | null;
        if (input && document.activeElement !== input && input.dataset.dirty !== 'true') input.value = String(value);
      }
      this.limitsForm.querySelector('button')!.setAttribute('aria-disabled', String(this.busy));
    }
  }

  private confirm(state: 'none' | 'confirm'): void {
    this.confirming = state;
    this.renderActions();
    this.actions.querySelector<HTMLElement>(state === 'none' ? '[data-key="uninstall"]' : '[data-key="uninstall-cancel"]')?.focus();
  }

  private buildLimitsForm(): HTMLFormElement {
    const field = (name: string, label: string, min: number, max: number) =>
      h('label', { class: 'field' }, label, h('input', { name, type: 'number', min, max, step: 1, required: true, oninput: (event: Event) => ((event.target as HTMLInputElement).dataset.dirty = 'true') }));
    const form = h(
      'form',
      { class: 'limits', 'aria-label': 'Resource limits' },
      field('memory_mb', 'Memory (MiB)', 1, 1024),
      field('timeout_secs', 'Time per call (s)', 1, 300),
      field('instances', 'Instances', 1, 16),
      h('button', { type: 'submit' }, 'Apply limits'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const limits: Record<string, number> = {};
      for (const input of form.querySelectorAll('input')) {
        input.dataset.dirty = 'false';
        limits[input.name] = Number(input.value);
      }
      this.run({ kind: 'limits', limits });
    });
    return form;
  }

  private showLogs(logs: LogFollower): void {
    this.logState.textContent = logs.problem ?? (logs.lines.length === 0 ? 'No lines yet.' : '');
    this.logState.hidden = this.logState.textContent === '';
    this.logBox.hidden = logs.problem !== undefined && logs.lines.length === 0;
    const atBottom = this.logBox.scrollHeight - this.logBox.scrollTop - this.logBox.clientHeight < 24;
    if (logs.lines.length < this.logsShown || logs.resetCount !== this.logResets) {
      this.logBox.replaceChildren();
      this.logsShown = 0;
      this.logResets = logs.resetCount;
    }
    const fresh = logs.lines.slice(this.logsShown - logs.dropped);
    for (const line of fresh) {
      this.logBox.append(
        h('div', { class: `line stream-${line.stream}` }, h('time', { datetime: line.time }, clock(line.time)), h('span', { class: 'stream' }, line.stream), h('span', { class: 'pid' }, line.pid ?? ''), h('span', { class: 'text' }, line.text)),
      );
    }
    this.logsShown += fresh.length;
    while (this.logBox.childElementCount > LOG_LINES_SHOWN) this.logBox.firstElementChild!.remove();
    if (atBottom) this.logBox.scrollTop = this.logBox.scrollHeight;
  }

  private logResets = 0;
}

/**
 * A plugin's log, followed by polling `?after=<cursor>` (live data is read with fetch, which
 * can send the token; an EventSource cannot).
 */
class LogFollower {
  lines: LogLine[] = [];
  /** Lines trimmed from the front of `lines` since the last reset. */
  dropped = 0;
  resetCount = 0;
  problem: string | undefined;
  private pluginId: string | undefined;
  private cursor: string | number | undefined;

  async poll(api: Api, pluginId: string): Promise<void> {
    if (pluginId !== this.pluginId) {
      this.pluginId = pluginId;
      this.lines = [];
      this.dropped = 0;
      this.cursor = undefined;
      this.resetCount++;
    }
    const query = this.cursor === undefined ? `limit=${LOG_LINES_SHOWN}` : `after=${encodeURIComponent(String(this.cursor))}&limit=${LOG_LINES_SHOWN}`;
    try {
      const page = await api.get<{ items: LogLine[]; next?: string | number | null }>(`/api/v1/plugins/${pluginId}/logs?${query}`);
      if (pluginId !== this.pluginId) return;
      this.lines.push(...page.items);
      this.cursor = page.next ?? page.items.at(-1)?.seq ?? this.cursor;
      const excess = this.lines.length - LOG_LINES_SHOWN;
      if (excess > 0) {
        this.lines.splice(0, excess);
        this.dropped += excess;
      }
      this.problem = undefined;
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 401) throw failure;
      this.problem = `Logs cannot be read: ${failure instanceof Error ? failure.message : String(failure)}`;
    }
  }
}

// ---- Small pieces ----

function table(headings: string[], rows: HTMLElement[], name: string): HTMLElement {
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': `${name} table` }, h('table', { class: name }, h('thead', {}, h('tr', {}, headings.map((text) => h('th', { scope: 'col' }, text)))), h('tbody', {}, rows)));
}

function statusBadge(status: string): HTMLElement {
  return h('span', { class: `badge status-${status}` }, status);
}

function lastExit(exit: LastExit | null, key: string): HTMLElement | string {
  if (!exit) return '–';
  const how = exit.signal ? ` signal ${exit.signal}` : exit.code !== null ? ` code ${exit.code}` : '';
  const tail = Array.isArray(exit.stderr_tail) ? exit.stderr_tail.join('\n') : (exit.stderr_tail ?? '');
  const summary = [h('span', { class: `badge exit-${exit.reason}` }, exit.reason), how, exit.at ? h('span', { class: 'muted' }, ` at ${clock(exit.at)}`) : ''];
  if (!exit.message && !tail) return h('span', {}, summary);
  // The sentence and the last lines written, one keystroke away.
  return h('details', { 'data-key': key }, h('summary', { 'data-key': `${key}:summary` }, summary), exit.message ? h('p', {}, exit.message) : null, tail ? h('pre', { class: 'tail' }, tail) : null);
}

function present<T>(items: (T | null)[]): T[] {
  return items.filter((item): item is T => item !== null);
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---- Start ----

let dashboard: Dashboard | undefined;

function start(api: Api, me: Me): void {
  dashboard?.stop();
  dashboard = new Dashboard(api, me);
}

async function resume(): Promise<void> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showLogin();
  const api = new Api(token);
  try {
    start(api, await api.get<Me>('/api/v1/me'));
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) return signOut(`Signed out: ${failure.message}`);
    showLogin(failure instanceof Error ? failure.message : String(failure));
  }
}

void resume();
