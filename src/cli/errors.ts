// Every user-facing failure is one line on stderr and exit code 2; no stack traces.

/** An error whose message is already fit for the user (file, frame, offset where they apply). */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'UserError';
  }
}

export function failLine(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const path = (err as NodeJS.ErrnoException).path;
    if (code === 'ENOENT' && path) return `${path}: no such file`;
    if (code === 'EACCES' && path) return `${path}: permission denied`;
    if (code === 'EISDIR' && path) return `${path}: is a directory`;
    return err.message.split('\n')[0] ?? String(err);
  }
  return String(err);
}

export function die(err: unknown): never {
  process.stderr.write(`twscope: ${failLine(err)}\n`);
  if (process.env.TWSCOPE_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  process.exit(err instanceof UserError ? err.exitCode : 2);
}
