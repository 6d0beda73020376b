// A real pseudo-terminal for full-screen commands (top): a private tmux server running a
// plain bash, driven with send-keys and read with capture-pane, as a person at a terminal.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';

/** The shell's prompt as capture-pane shows it (lines come without their trailing spaces). */
export const SHELL_PROMPT = 'pk-shell$';

export class TmuxPane {
  private constructor(private readonly socket: string) {}

  /** A `columns`×`rows` terminal showing a bash prompt with nothing of the tester's environment. */
  static async start(columns: number, rows: number): Promise<TmuxPane> {
    const pane = new TmuxPane(`pk-test-${randomBytes(6).toString('hex')}`);
    const shell = `env -i PATH='${process.env.PATH}' HOME='${process.env.HOME}' PS1='${SHELL_PROMPT} ' bash --norc --noprofile`;
    await pane.tmux('new-session', '-d', '-x', String(columns), '-y', String(rows), shell);
    if (!(await pane.waitFor((screen) => screen.includes(SHELL_PROMPT)))) throw new Error('tmux: the shell never showed its prompt');
    return pane;
  }

  /** Types `line` and presses Enter. */
  async type(line: string): Promise<void> {
    await this.tmux('send-keys', '-l', line);
    await this.tmux('send-keys', 'Enter');
  }

  /** One key as tmux names it (`q`, `m`, `C-c`). */
  async press(key: string): Promise<void> {
    await this.tmux('send-keys', key);
  }

  /** What the terminal shows now. */
  async screen(): Promise<string> {
    return (await this.tmux('capture-pane', '-p')).stdout;
  }

  /** Polls the screen until `test` holds (true) or `ms` pass (false). */
  async waitFor(test: (screen: string) => boolean, ms = 10_000): Promise<boolean> {
    const until = Date.now() + ms;
    for (;;) {
      if (test(await this.screen())) return true;
      if (Date.now() > until) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async close(): Promise<void> {
    await this.tmux('kill-server').catch(() => undefined);
  }

  private tmux(...args: string[]) {
    return execa('tmux', ['-L', this.socket, '-f', '/dev/null', ...args]);
  }
}
