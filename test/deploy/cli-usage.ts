/**
 * Checks deployment material against the real CLI: every `accord` invocation (a container's
 * command/args, or a command inside a shell script) must name a command that exists, use only its
 * flags, give required flags and acceptable values, and pass no stray arguments; every ACCORD_*
 * variable must be one the code reads.
 */
import { CommanderError, type Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { resolveServeOptions } from '../../src/app/options.js';
import { clientFrom } from '../../src/cli/context.js';
import { createLogger } from '../../src/observability/logger.js';

/** A shell word whose value is only known at run time (command substitution, unknown variable). */
export const DYNAMIC = '\u0000dynamic';

/** A `$` inside single quotes: not an expansion. */
const LITERAL_DOLLAR = '\uE000';

function expand(word: string, vars: ReadonlyMap<string, string>): string {
  return word
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*|[0-9]):\+([^}]*)\}/g, (_m, name: string, alternative: string) => {
      const value = vars.get(name);
      if (value === undefined) return DYNAMIC;
      return value === '' ? '' : expand(alternative, vars);
    })
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*|[0-9])(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*|[0-9])/g, (_m, braced: string | undefined, fallback: string | undefined, plain: string | undefined) => {
      const value = vars.get(braced ?? plain ?? '');
      if (value === undefined) return fallback ?? DYNAMIC;
      return value === '' && fallback !== undefined ? fallback : value;
    });
}

/**
 * The simple commands of a POSIX shell script, as words after quote removal and expansion of the
 * variables it knows (`vars`, plus plain assignments made in the script). Enough shell for
 * deployment scripts: quotes, backslash escapes, line continuations, comments, `;` `&&` `||` `|`,
 * redirections, `$(...)` (whose commands are returned too; its value is dynamic).
 */
export function shellCommands(script: string, vars: ReadonlyMap<string, string> = new Map()): string[][] {
  const known = new Map(vars);
  const commands: string[][] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  let redirect = false;
  let quoted = false;
  const endWord = (): void => {
    if (!inWord) return;
    const value = expand(word, known);
    // An unquoted word that expands to nothing is no word at all.
    if (!redirect && (quoted || value !== '')) words.push(value);
    redirect = false;
    quoted = false;
    word = '';
    inWord = false;
  };
  const endCommand = (): void => {
    endWord();
    const assignments: string[] = [];
    while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0] as string)) assignments.push(words.shift() as string);
    if (words.length === 0) {
      for (const assignment of assignments) {
        const eq = assignment.indexOf('=');
        known.set(assignment.slice(0, eq), assignment.slice(eq + 1));
      }
    } else {
      while (words[0] === 'exec' || words[0] === 'command') words.shift();
      commands.push(words);
    }
    words = [];
  };
  const substitution = (start: number): number => {
    let depth = 1;
    let i = start;
    while (i < script.length && depth > 0) {
      if (script[i] === '(') depth += 1;
      if (script[i] === ')') depth -= 1;
      i += 1;
    }
    commands.push(...shellCommands(script.slice(start, i - 1), known));
    return i;
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i] as string;
    if (c === '\\' && script[i + 1] === '\n') {
      i += 1;
      continue;
    }
    if (c === '#' && !inWord) {
      while (i < script.length && script[i] !== '\n') i += 1;
      endCommand();
      continue;
    }
    if (c === '\n' || c === ';' || c === '&' || c === '|' || c === '(' || c === ')') {
      endCommand();
      continue;
    }
    if (c === ' ' || c === '\t') {
      endWord();
      continue;
    }
    if (c === '>' || c === '<') {
      if (inWord && /^\d+$/.test(word)) {
        // a file descriptor number (2>&1), not a word
        word = '';
        inWord = false;
      }
      endWord();
      while (script[i + 1] === '>' || script[i + 1] === '&') i += 1;
      redirect = true;
      continue;
    }
    inWord = true;
    if (c === "'") {
      quoted = true;
      const close = script.indexOf("'", i + 1);
      word += script.slice(i + 1, close).replaceAll('$', LITERAL_DOLLAR);
      i = close;
    } else if (c === '"') {
      quoted = true;
      i += 1;
      while (i < script.length && script[i] !== '"') {
        if (script[i] === '\\' && i + 1 < script.length) {
          word += script[i + 1];
          i += 2;
        } else if (script[i] === '$' && script[i + 1] === '(') {
          i = substitution(i + 2);
          word += DYNAMIC;
        } else {
          word += script[i];
          i += 1;
        }
      }
    } else if (c === '$' && script[i + 1] === '(') {
      i = substitution(i + 2) - 1;
      word += DYNAMIC;
    } else if (c === '\\') {
      word += script[i + 1] ?? '';
      i += 1;
    } else {
      word += c;
    }
  }
  endCommand();
  return commands.map((command) => command.map((w) => w.replaceAll(LITERAL_DOLLAR, '$')));
}

function resolve(program: Command, words: readonly string[]): { command: Command; rest: string[] } {
  let command = program;
  let i = 0;
  while (i < words.length) {
    const sub = command.commands.find((c) => c.name() === words[i]);
    if (!sub) break;
    command = sub;
    i += 1;
  }
  return { command, rest: words.slice(i) };
}

/** Problems with one `accord ...` invocation (words[0] is `accord`), checked by the CLI's own parser. */
export function invocationProblems(words: readonly string[]): string[] {
  const line = words.join(' ').replaceAll(DYNAMIC, '<dynamic>');
  const program = buildProgram();
  const silence = (command: Command): void => {
    command.exitOverride();
    command.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    command.commands.forEach(silence);
  };
  silence(program);
  const { command, rest } = resolve(program, words.slice(1));
  if (command === program) return [`"${line}": names no accord command`];
  if (command.commands.length > 0) return [`"${line}": "${command.name()}" needs a subcommand`];
  let parsed: { operands: string[]; unknown: string[] };
  try {
    parsed = command.parseOptions(rest);
  } catch (error) {
    // A value only known at run time cannot be judged here; anything else is a real error.
    if (error instanceof CommanderError && error.message.includes('<dynamic>')) return [];
    if (error instanceof CommanderError && rest.some((w) => w.includes(DYNAMIC)) && error.code === 'commander.invalidArgument') return [];
    return [`"${line}": ${error instanceof Error ? error.message : String(error)}`];
  }
  const problems: string[] = [];
  if (parsed.unknown.length > 0) problems.push(`"${line}": unknown option or stray argument: ${parsed.unknown.map((u) => JSON.stringify(u)).join(' ')}`);
  const expected = command.registeredArguments;
  const variadic = expected.some((a) => a.variadic);
  if (!variadic && parsed.operands.length > expected.length) problems.push(`"${line}": too many arguments: ${parsed.operands.map((o) => JSON.stringify(o)).join(' ')}`);
  const required = expected.filter((a) => a.required).length;
  if (parsed.operands.length < required) problems.push(`"${line}": missing argument(s) ${expected.map((a) => a.name()).join(', ')}`);
  for (const option of command.options) {
    if (option.mandatory && command.getOptionValue(option.attributeName()) === undefined) problems.push(`"${line}": missing required option ${option.long ?? option.flags}`);
  }
  return problems;
}

/**
 * Every ACCORD_* variable the code reads: recorded while the CLI program is built, `serve` resolves
 * its options (including the *_FILE forms), an API client is configured and a logger created.
 */
export function knownEnvironment(): Set<string> {
  const read = new Set<string>();
  const recording = new Proxy({} as NodeJS.ProcessEnv, {
    get(_target, key) {
      if (typeof key === 'string') read.add(key);
      return undefined;
    },
  });
  const original = process.env;
  process.env = recording;
  try {
    buildProgram();
    resolveServeOptions({}, recording);
    clientFrom({});
    createLogger({});
  } finally {
    process.env = original;
  }
  return new Set([...read].filter((name) => name.startsWith('ACCORD_')));
}
