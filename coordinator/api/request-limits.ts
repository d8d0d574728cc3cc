// Bounds of the numeric fields of CoordinatorService requests. The API
// refuses a value beyond them with INVALID_ARGUMENT naming the field, and the
// CLI refuses it before any RPC, with the same numbers.

/**
 * Most nodes one DeployNodes call (one `vonode deploy`) may ask for. A fixed
 * ceiling rather than the pool size: the CLI must check it before it has
 * asked the coordinator anything, and it bounds what one call creates (one
 * transaction, one event stream following every operation). The queue then
 * refuses a count above the pool size, and a count above the free triples
 * with RESOURCE_EXHAUSTED, each saying so.
 */
export const MAX_DEPLOY_COUNT = 1000;

/** Most operations one Timings call may ask for (0 asks for all): a Table 2 over more rows says nothing more. */
export const MAX_TIMINGS_LIMIT = 10_000;

/** Most hostnames one ReportVisibility call may carry (the pool of a site is far smaller). */
export const MAX_VISIBILITY_HOSTNAMES = 10_000;

/** Longest `reporter` of ReportVisibility (it names a grid service in logs). */
export const MAX_REPORTER_LENGTH = 256;
