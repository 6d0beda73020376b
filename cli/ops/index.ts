/** The operators' commands, talking to a running service over REST. */
import type { Command } from '../command.js';
import { eventsCommand } from './events.js';
import { logsCommand } from './logs.js';
import { pluginsCommand } from './plugins.js';
import { psCommand } from './ps.js';
import { topCommand } from './top.js';

export const opsCommands: readonly Command[] = [psCommand, topCommand, logsCommand, eventsCommand, pluginsCommand];
