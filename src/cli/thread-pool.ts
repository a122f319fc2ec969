// Sizes libuv's thread pool before anything uses it (it is created on first use, with 4 threads
// unless UV_THREADPOOL_SIZE says otherwise). Ingest runs every file write, file fsync and folder
// fsync there; an fsync holds its thread for the disk's whole flush, so with four associations
// storing at once four file fsyncs took every thread and the writes and folder fsyncs of the same
// instances queued behind them (bench:ingest, 4 associations: 16 threads took 5.2-5.9 s for 300
// instances where 4 took 6.9-8.4 s). Idle threads cost only their stacks. Imported first by the
// command line; an operator's own UV_THREADPOOL_SIZE wins.

/** Threads when the environment does not say: room for the fsyncs of several associations at once. */
export const INGEST_THREAD_POOL_SIZE = 16;

if (!process.env['UV_THREADPOOL_SIZE']) process.env['UV_THREADPOOL_SIZE'] = String(INGEST_THREAD_POOL_SIZE);
