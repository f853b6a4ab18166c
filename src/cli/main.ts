import { Command, CommanderError } from 'commander';
import { die } from './errors.js';
import { registerPackets } from './packets.js';
import { registerAnalyze } from './analyze.js';
import { registerQuery } from './query.js';
import { registerSchema } from './schema.js';
import { registerReport } from './report.js';
import { VERSION } from '../version.js';

const program = new Command();
program
  .name('twscope')
  .description('Offline TCP connection analyzer for packet captures: teardown, TIME-WAIT reuse, PAWS, NAT timestamp clocks, port exhaustion.')
  .version(VERSION)
  .exitOverride()
  // usage errors: one line, like every other error
  .configureOutput({ outputError: (str, write) => write(`twscope: ${str.split('\n')[0]!.replace(/^error: /, '')} (see --help)\n`) });

registerAnalyze(program);
registerQuery(program);
registerPackets(program);
registerSchema(program);
registerReport(program);

process.on('unhandledRejection', die);
process.on('uncaughtException', die);
// a reader that stops early (`twscope query ... | head`) is not an error: the rest of the output
// is dropped, and the command still finishes its work and exits with its own code
for (const out of [process.stdout, process.stderr]) {
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') die(err);
  });
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help / --version exit 0; usage errors exit 2 (commander already printed the line)
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  die(err);
});
