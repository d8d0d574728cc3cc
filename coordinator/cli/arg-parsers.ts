import { InvalidArgumentError } from 'commander';

/**
 * commander argument parser for a whole number from `min` to `max` (each
 * numeric option documents its range in its help); the usage error names the
 * option and the range, so nothing out of range reaches the wire.
 */
export function wholeNumber(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} takes a whole number from ${min} to ${max}, not "${value}"`);
    }
    return n;
  };
}

/** Longest --timeout: an hour (a deadline beyond it is a hang, not a slow answer). */
export const MAX_TIMEOUT_S = 3600;

/** commander argument parser for a number of seconds above 0 and at most `max` (fractions allowed). */
export function seconds(flag: string, max = MAX_TIMEOUT_S): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
      throw new InvalidArgumentError(`${flag} takes a number of seconds above 0 and at most ${max}, not "${value}"`);
    }
    return n;
  };
}
