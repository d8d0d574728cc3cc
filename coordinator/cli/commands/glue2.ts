import { InvalidArgumentError, type Command } from 'commander';
import { isVonodeError } from '../../../shared/errors.js';
import { validateHostname } from '../../../shared/validation.js';
import { glue2Ldif, type Glue2Options } from '../../infosys/glue2-ldif.js';
import { glue13Ldif, type Glue13Options } from '../../infosys/glue13-ldif.js';
import { validateDn } from '../../infosys/ldif-writer.js';
import type { CliContext } from '../context.js';
import { CliFailure, EXIT, UsageError } from '../errors.js';

/** Options of `vonode glue2`, as commander parsed them. */
interface Glue2CommandOptions {
  glue13?: boolean;
  siteSuffix?: string;
  glue13Suffix?: string;
  ceHost?: string;
  lrms: string;
  endpointUrl?: string;
  endpointInterface?: string;
}

const LRMS = ['sge', 'slurm'];

/**
 * Registers `vonode glue2 [--glue13] [--site-suffix DN] …`: the GLUE 2.0 (and
 * GLUE 1.3) LDIF of the site as it is now, for a BDII information provider
 * (scripts/bdii/vonode-provider). Prints nothing on stdout unless every answer
 * arrived, so a failing run makes BDII drop the entries rather than publish
 * half a site.
 */
export function registerGlue2Command(program: Command, ctx: CliContext): void {
  program
    .command('glue2')
    .description('print the site as GLUE 2.0 LDIF (plus GLUE 1.3 with --glue13), for a BDII provider')
    .option('--glue13', 'also print GLUE 1.3 (GlueCluster, one GlueCE and GlueSubCluster per VO queue)')
    .option('--site-suffix <dn>', 'DN the GLUE 2.0 entries hang under (default GLUE2GroupID=resource,o=glue)')
    .option('--glue13-suffix <dn>', 'DN the GLUE 1.3 entries hang under (default mds-vo-name=local,o=grid, where the GridWay BDII MAD and older brokers look)')
    .option('--ce-host <host>', "the front-end's host name in the IDs (default: the site name)")
    .option('--lrms <name>', `batch system: ${LRMS.join(' or ')}`, (v: string) => {
      if (!LRMS.includes(v)) throw new InvalidArgumentError(`--lrms takes ${LRMS.join(' or ')}, not "${v}"`);
      return v;
    }, 'sge')
    .option('--endpoint-url <url>', 'publish a ComputingEndpoint for this job submission URL (default: none)')
    .option('--endpoint-interface <name>', 'interface name of --endpoint-url, e.g. org.ogf.drmaa')
    .addHelpText(
      'after',
      '\nJob counts are 0 until the batch system is read. Counts: TotalInstances = running + draining nodes,\n' +
        'FreeSlots = running nodes × slots per node − running jobs. BDII runs scripts/bdii/vonode-provider, which calls this.',
    )
    .action(async (opts: Glue2CommandOptions, cmd: Command) => {
      const { glue2, glue13 } = publishOptions(opts);
      const { client, conn } = ctx.coordinator(cmd);
      const [status, nodes, policy] = await ctx.call(conn, Promise.all([client.status(), client.listNodes(), client.getPolicy()]));
      // Loaded here only: the snapshot checks the policy text with zod, which other commands need not load.
      const { buildSiteSnapshot } = await import('../../infosys/site-snapshot.js');
      let text: string;
      try {
        const snapshot = buildSiteSnapshot({ status, nodes, policy });
        text = glue2Ldif(snapshot, glue2) + (opts.glue13 ? glue13Ldif(snapshot, glue13) : '');
      } catch (err) {
        if (!isVonodeError(err)) throw err;
        throw new CliFailure([`cannot write the LDIF of this site: ${err.message}`], EXIT.failure, { cause: err });
      }
      ctx.io.out(text);
    });
}

/** The LDIF writers' options from the command line. Throws UsageError naming the option. */
function publishOptions(opts: Glue2CommandOptions): { glue2: Glue2Options; glue13: Glue13Options } {
  if ((opts.endpointUrl === undefined) !== (opts.endpointInterface === undefined)) {
    throw new UsageError('--endpoint-url and --endpoint-interface go together: give both or neither');
  }
  const checked = <T>(flag: string, check: () => T): T => {
    try {
      return check();
    } catch (err) {
      if (!isVonodeError(err)) throw err;
      throw new UsageError(`${flag}: ${err.message.replace(/^invalid [^:]+: /, '')}`);
    }
  };
  const common = {
    lrms: opts.lrms,
    ...(opts.ceHost !== undefined ? { ceHost: checked('--ce-host', () => validateHostname('ceHost', opts.ceHost!)) } : {}),
  };
  return {
    glue2: {
      ...common,
      ...(opts.siteSuffix !== undefined ? { suffix: checked('--site-suffix', () => validateDn('suffix', opts.siteSuffix!)) } : {}),
      ...(opts.endpointUrl && opts.endpointInterface ? { endpoint: { url: opts.endpointUrl, interfaceName: opts.endpointInterface } } : {}),
    },
    glue13: {
      ...common,
      ...(opts.glue13Suffix !== undefined ? { suffix: checked('--glue13-suffix', () => validateDn('suffix', opts.glue13Suffix!)) } : {}),
    },
  };
}
