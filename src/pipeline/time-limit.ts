// The time limit of a job's model run: past it, the run is told to stop (its signal aborts) and
// the job fails with a message naming the setting.

/**
 * Runs `work` under a limit of `seconds`. On expiry the signal given to `work` aborts and the
 * returned promise rejects at once, whether or not `work` heeds the signal.
 */
export async function withTimeLimit<T>(seconds: number, setting: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`time limit exceeded (${seconds} s, ${setting})`);
      abort.abort(err);
      reject(err);
    }, seconds * 1000);
  });
  try {
    return await Promise.race([work(abort.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}
