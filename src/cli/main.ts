import { Command, CommanderError } from 'commander';
import { die } from './errors.js';
import { registerPackets } from './packets.js';

const program = new Command();
program
  .name('twscope')
  .description('Offline TCP connection analyzer for packet captures: teardown, TIME-WAIT reuse, PAWS, NAT timestamp clocks, port exhaustion.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(str.split('\n')[0] + '\n') });

registerPackets(program);

process.on('unhandledRejection', die);
process.on('uncaughtException', die);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help / --version exit 0; usage errors exit 2 (commander already printed the line)
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  die(err);
});
