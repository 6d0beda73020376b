/** The plugin author's commands, in the order `plugin-keeper --help` lists them. */
import type { Command } from '../command.js';
import { buildCommand } from './build.js';
import { keygenCommand } from './keygen.js';
import { newCommand } from './new.js';
import { packCommand } from './pack.js';
import { signCommand } from './sign.js';
import { testCommand } from './test.js';

export const authorCommands: readonly Command[] = [newCommand, buildCommand, testCommand, keygenCommand, signCommand, packCommand];
