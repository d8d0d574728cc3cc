// Small Preact hooks shared by the views.
import { useEffect, useRef, useState } from 'preact/hooks';
import { parseRoute, type Route } from '../model/route.js';

/** The current hash route and a counter bumped on each hashchange (a key that remounts a view on navigation). */
export function useHashRoute(): { route: Route; seq: number } {
  const [state, setState] = useState(() => ({ route: parseRoute(window.location.hash), seq: 0 }));
  useEffect(() => {
    const onChange = (): void => setState((s) => ({ route: parseRoute(window.location.hash), seq: s.seq + 1 }));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return state;
}

/**
 * `value`, but changing at most once per `intervalMs`: a view whose
 * derivation is O(nodes) (filter and sort of 5,000 nodes) recomputes a few
 * times a second during a burst instead of every frame. The last value
 * always arrives, at most `intervalMs` late.
 */
export function useThrottledValue<T>(value: T, intervalMs: number): T {
  const [shown, setShown] = useState(value);
  const last = useRef(0);
  const timer = useRef<number | undefined>(undefined);
  const latest = useRef(value);
  latest.current = value;
  useEffect(() => {
    if (Object.is(value, shown)) return;
    const wait = last.current + intervalMs - Date.now();
    if (wait <= 0) {
      last.current = Date.now();
      setShown(value);
      return;
    }
    if (timer.current !== undefined) return;
    timer.current = window.setTimeout(() => {
      timer.current = undefined;
      last.current = Date.now();
      setShown(latest.current);
    }, wait);
  }, [value, shown, intervalMs]);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  return shown;
}
