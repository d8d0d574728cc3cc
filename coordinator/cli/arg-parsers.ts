import { InvalidArgumentError } from 'commander';

/** commander argument parser for a whole number ≥ `min`; the usage error names the option. */
export function wholeNumber(flag: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${flag} takes a whole number ≥ ${min}, not "${value}"`);
    }
    return n;
  };
}

/** commander argument parser for a positive number of seconds (fractions allowed). */
export function seconds(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`${flag} takes a number of seconds above 0, not "${value}"`);
    }
    return n;
  };
}
