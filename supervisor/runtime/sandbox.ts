/**
 * How a plugin child is walled in, decided once per supervisor process.
 *
 * - Node's permission model: the child may read only the plugin host's own code and the
 *   component's transpiled folder; writing files, spawning processes and worker threads are
 *   denied (it does not restrict the network on Node 20), and `--no-addons` refuses native
 *   addons, which the permission model alone lets through on Node 20.
 * - A new user + network namespace (`unshare -rn`), where the kernel allows it: the child
 *   has no network interface but loopback-in-a-void, so any connection gets ENETUNREACH.
 * - A scrubbed environment: no variable of the supervisor (tokens, database URLs) reaches it.
 * - A parent-death signal (`setpriv --pdeathsig KILL`): when the supervisor dies, even by
 *   SIGKILL, the kernel kills the child, even one spinning in a guest loop that would never
 *   read the end of its stdin. Inside the namespace it comes after `unshare`, since
 *   entering a user namespace clears a parent-death signal set before it.
 *
 * `describe()` is what the process listing shows, so an operator can see which walls are up.
 */
import { execFileSync } from 'node:child_process';

export interface SandboxFeatures {
  permissionModel: boolean;
  /** Absolute path of `unshare` when it can create a network namespace here, else null. */
  unsharePath: string | null;
  /** Absolute path of `setpriv` when it can set a parent-death signal here, else null. */
  setprivPath: string | null;
}

export interface ChildCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

export interface SandboxSpawnOptions {
  hostEntry: string;
  hostArgs: string[];
  /** Folders the child may read (the host bundle's folder, the component's), nothing else. */
  readablePaths: string[];
  /** JS heap bound for the host (the WebAssembly memory is capped separately). */
  maxOldSpaceMb: number;
}

export class Sandbox {
  constructor(readonly features: SandboxFeatures) {}

  /** Probes the machine: `unshare -rn` works in some containers and not in others. */
  static detect(options: { networkIsolation?: boolean } = {}): Sandbox {
    return new Sandbox({
      permissionModel: true,
      unsharePath: options.networkIsolation === false ? null : findWorking('unshare', ['--user', '--map-root-user', '--net', 'true']),
      setprivPath: findWorking('setpriv', ['--pdeathsig', 'KILL', '--', 'true']),
    });
  }

  command(options: SandboxSpawnOptions): ChildCommand {
    // --no-addons: on Node 20 the permission model alone still lets native addons load.
    const nodeArgs = [`--max-old-space-size=${options.maxOldSpaceMb}`, '--no-warnings', '--no-addons'];
    if (this.features.permissionModel) {
      nodeArgs.push('--experimental-permission', ...options.readablePaths.map((p) => `--allow-fs-read=${p}`));
    }
    // Only what Node itself needs; notably no PATH-borne secrets, tokens or DATABASE_URL.
    const env = { NODE_ENV: 'production', LANG: 'C.UTF-8' };
    // Each wrapper execs the next in the same process: the pid the supervisor sees is the host's.
    let command = [process.execPath, ...nodeArgs, options.hostEntry, ...options.hostArgs];
    if (this.features.setprivPath) command = [this.features.setprivPath, '--pdeathsig', 'KILL', '--', ...command];
    if (this.features.unsharePath) command = [this.features.unsharePath, '--user', '--map-root-user', '--net', ...command];
    const [file, ...args] = command as [string, ...string[]];
    return { file, args, env };
  }

  describe(): string {
    const walls = ['scrubbed environment'];
    if (this.features.permissionModel) walls.push('node permission model (read-only, no spawn, no addons)');
    walls.push(this.features.unsharePath ? 'no network (user+net namespace)' : 'network NOT isolated (unshare unavailable)');
    walls.push(
      this.features.setprivPath ? 'killed with the supervisor (parent-death signal)' : 'may outlive a killed supervisor (setpriv unavailable)',
    );
    return walls.join(', ');
  }
}

/** The util-linux tool `name` where running it with `probeArgs` succeeds here, else null. */
function findWorking(name: string, probeArgs: string[]): string | null {
  for (const candidate of [`/usr/bin/${name}`, `/bin/${name}`]) {
    try {
      execFileSync(candidate, probeArgs, { stdio: 'ignore', timeout: 5000 });
      return candidate;
    } catch {
      // missing here, or the kernel refuses (unprivileged namespaces): try the next one
    }
  }
  return null;
}
