/**
 * V8 flags the agent runs with (also in agent/main.ts's shebang, which
 * cannot import). The agent allocates little and idles most of the time: a
 * 1 MB young generation and size-optimised compilation keep an idle agent at
 * ~71 MB RSS instead of ~82 MB, at 0.5% of a core (measured on the simulated
 * driver, no domains).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];
