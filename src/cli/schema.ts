import { Command } from 'commander';
import { schemaSQL } from '../store/schema.js';

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the SQLite schema of the store, with a comment on every column')
    .addHelpText('after', `\nExample:\n  twscope schema | less\n`)
    .action(() => {
      process.stdout.write(schemaSQL());
    });
}
