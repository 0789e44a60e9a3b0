import { InvalidArgumentError, Option, type Command } from 'commander';
import { CliError, UsageError } from '../client.js';
import { clientFrom, withServerOptions } from '../context.js';
import { stringify } from 'yaml';
import { outputFormat, printStructured, printTable, say, withOutputOption } from '../output.js';
import type { PolicyKeyArg } from '../policy-files.js';

/** Validation (zod schemas) loads only for the commands that read policy files. */
const policyFiles = (): Promise<typeof import('../policy-files.js')> => import('../policy-files.js');

interface PolicyChange {
  kind: string;
  namespace: string;
  name: string;
  action: 'created' | 'configured' | 'unchanged' | 'deleted';
}

interface ChangeResult {
  applied: boolean;
  dryRun: boolean;
  unchanged: boolean;
  revision: number;
  documents: number;
  changes: PolicyChange[];
  warnings: unknown[];
  diffs?: { proxy: string; diff: string }[];
}

interface ListedDocument {
  kind: string;
  metadata: { name: string; namespace: string; revision: number; annotations?: Record<string, string> };
  spec: { target?: string; source?: string };
}

interface Listing {
  revision: number;
  managedBy?: string;
  documents: ListedDocument[];
}

const KINDS = ['Mesh', 'TrafficPolicy', 'AuthorizationPolicy', 'UpstreamPolicy'];

function kindNamed(value: string): string | undefined {
  return KINDS.find((known) => known.toLowerCase() === value.toLowerCase());
}

function kindArgument(value: string): string {
  const kind = kindNamed(value);
  if (!kind) throw new UsageError(`unknown kind "${value}"; expected one of ${KINDS.join(', ')}`);
  return kind;
}

function kindOption(value: string): string {
  const kind = kindNamed(value);
  if (!kind) throw new InvalidArgumentError(`expected one of ${KINDS.join(', ')}`);
  return kind;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function query(flags: Record<string, boolean | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, on] of Object.entries(flags)) if (on) params.set(name, 'true');
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

function countBy(changes: readonly PolicyChange[]): string {
  const counts = new Map<string, number>();
  for (const change of changes) counts.set(change.action, (counts.get(change.action) ?? 0) + 1);
  return [...counts.entries()].map(([action, n]) => `${n} ${action}`).join(', ');
}

/** What happened, for people: one line per object, then one sentence. */
function printChanges(result: ChangeResult, localize: (details: readonly unknown[]) => string[]): void {
  for (const warning of localize(result.warnings)) process.stderr.write(`warning: ${warning}\n`);
  for (const { proxy, diff } of result.diffs ?? []) say(`--- proxy ${proxy}\n${diff}`);
  if (result.dryRun && (result.diffs ?? []).length === 0) say('no proxy would change');
  for (const change of result.changes) say(`${change.kind} ${change.namespace}/${change.name} ${change.action}${result.dryRun ? ' (dry run)' : ''}`);
  if (result.dryRun) say(`dry run: ${result.unchanged ? 'nothing would change' : countBy(result.changes)}; nothing applied`);
  else if (result.unchanged) say(`unchanged: already in force at revision ${result.revision}`);
  else say(`applied at revision ${result.revision}: ${countBy(result.changes.filter((change) => change.action !== 'unchanged'))}`);
}

function targetOf(document: ListedDocument): string {
  return document.spec.target ?? document.spec.source ?? '-';
}

export function registerPolicyCommands(program: Command): void {
  withOutputOption(
    withServerOptions(
      program
        .command('apply')
        .description(
          'create or update the policy documents given, per object (kind/namespace/name), like kubectl apply; ' +
            'objects not given stay unless --prune',
        )
        .requiredOption('-f, --file <path>', 'a policy file, a directory of *.yaml files, or - for stdin (repeatable)', collect)
        .option('--prune', 'also delete every policy in force that the given documents do not hold (the given set becomes the whole set)')
        .option('--force', 'with --prune: allow an empty set (deletes every policy)')
        .option('--dry-run', 'validate against the server and print, per affected proxy, the diff of its Envoy resources; change nothing')
        .option('--allow-unknown-targets', 'accept references to services that are neither registered nor named by another policy'),
    ),
    ['table', 'json'],
  ).action(async (options: Record<string, unknown>) => {
    const paths = options.file as string[];
    if (options.force && !options.prune) throw new UsageError('--force only applies with --prune');
    const { loadPolicies, localizeServerErrors, reportServerRejection, toRequestDocuments } = await policyFiles();
    const documents = await loadPolicies(paths);
    if (documents.length === 0) {
      if (!options.prune) throw new CliError(`no policy documents in ${paths.join(', ')}; nothing to apply`);
      if (!options.force) {
        throw new CliError(`refusing to prune with no documents in ${paths.join(', ')}: that deletes every policy in force; add --force if you mean it`);
      }
    }
    const path = options.prune ? '/v1/policies' : '/v1/policies:apply';
    const suffix = query({ dryRun: options.dryRun === true, allowUnknownTargets: options.allowUnknownTargets === true, force: options.force === true });
    let result: ChangeResult;
    try {
      result = await clientFrom(options).json<ChangeResult>(options.prune ? 'PUT' : 'POST', `${path}${suffix}`, {
        json: toRequestDocuments(documents),
      });
    } catch (error) {
      return reportServerRejection(error, documents, 'applied');
    }
    if (!printStructured(outputFormat(options), result)) printChanges(result, (details) => localizeServerErrors(details, documents));
  });

  withOutputOption(
    withServerOptions(
      program
        .command('delete')
        .description('delete policies: the objects named by the documents in -f, or one object by kind and name')
        .argument('[kind]', 'Mesh | TrafficPolicy | AuthorizationPolicy | UpstreamPolicy (any case)')
        .argument('[name]', 'the policy name (metadata.name)')
        .option('-n, --namespace <namespace>', 'the policy namespace', 'default')
        .option('-f, --file <path>', 'delete the objects these documents name (file, directory or -; repeatable)', collect)
        .option('--dry-run', 'show what would be deleted; change nothing')
        .option('--ignore-not-found', 'skip objects that are not in force instead of failing'),
    ),
    ['table', 'json'],
  ).action(async (kind: string | undefined, name: string | undefined, options: Record<string, unknown>) => {
    const files = options.file as string[] | undefined;
    let keys: PolicyKeyArg[];
    if (files) {
      if (kind !== undefined) throw new UsageError('give either -f FILE or KIND NAME, not both');
      keys = await (await policyFiles()).loadPolicyKeys(files);
      if (keys.length === 0) throw new CliError(`no policy documents in ${files.join(', ')}; nothing to delete`);
    } else {
      if (kind === undefined || name === undefined) throw new UsageError('give KIND NAME (e.g. accord delete authorizationpolicy payments-callers) or -f FILE');
      keys = [{ kind: kindArgument(kind), namespace: String(options.namespace), name }];
    }
    const suffix = query({ dryRun: options.dryRun === true, ignoreMissing: options.ignoreNotFound === true });
    const result = await clientFrom(options).json<ChangeResult>('POST', `/v1/policies:delete${suffix}`, { json: { policies: keys } });
    if (printStructured(outputFormat(options), result)) return;
    for (const change of result.changes) say(`${change.kind} ${change.namespace}/${change.name} deleted${result.dryRun ? ' (dry run)' : ''}`);
    if (result.dryRun) say('dry run: nothing deleted');
    else if (result.unchanged) say(`nothing to delete: none of them is in force (revision ${result.revision})`);
    else say(`deleted ${result.changes.length} policy object(s) at revision ${result.revision}`);
  });

  withOutputOption(
    withServerOptions(
      program
        .command('policies')
        .description('list the policies in force: kind, namespace, name, target and the revision of their last change')
        .addOption(new Option('--kind <kind>', 'only this kind').argParser(kindOption))
        .option('-n, --namespace <namespace>', 'only this namespace'),
    ),
  ).action(async (options: Record<string, unknown>) => {
    const listing = await clientFrom(options).json<Listing>('GET', '/v1/policies');
    const documents = listing.documents.filter(
      (document) =>
        (options.kind === undefined || document.kind === options.kind) && (options.namespace === undefined || document.metadata.namespace === options.namespace),
    );
    const format = outputFormat(options);
    // YAML is the documents themselves, ready for `accord apply -f -` (metadata.revision is ignored there).
    if (format === 'yaml') {
      process.stdout.write(documents.map((document) => `---\n${stringify(document)}`).join(''));
      return;
    }
    if (printStructured(format, { ...listing, documents })) return;
    if (documents.length === 0) say(`no policies in force (revision ${listing.revision})`);
    else {
      printTable(
        ['KIND', 'NAMESPACE', 'NAME', 'TARGET', 'REVISION'],
        documents.map((document) => [document.kind, document.metadata.namespace, document.metadata.name, targetOf(document), String(document.metadata.revision)]),
      );
    }
    if (listing.managedBy) say(`managed by serve --config ${listing.managedBy}: change the files there`);
  });
}

