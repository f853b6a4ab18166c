// Writing a command's output to a reader that may be slow or gone. A shell pipe is written
// synchronously, but a pipe from a parent process is a socket, written asynchronously: output
// it has not taken yet is queued in memory, and a failed write (EPIPE) shows only on the stream.

/** the reader has gone (`| head`): nothing more need be produced */
export function readerGone(out: NodeJS.WriteStream): boolean {
  return out.errored !== null || out.destroyed;
}

/** settles when the stream has taken what was queued (or has failed or closed); undefined when
 *  the reader is gone already. Await it after a write() that returned false. */
export function drained(out: NodeJS.WriteStream): Promise<void> | undefined {
  if (readerGone(out)) return undefined;
  return new Promise<void>((resolve) => {
    const done = (): void => {
      out.off('drain', done).off('error', done).off('close', done);
      resolve();
    };
    out.on('drain', done).on('error', done).on('close', done);
  });
}
