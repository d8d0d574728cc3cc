import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { ApiClient } from '../model/api-client.js';

/** Props of LoginForm. */
export interface LoginFormProps {
  api: ApiClient;
  /** After a successful login (the app reloads). */
  onLoggedIn: () => void;
}

/** Shown when /api/whoami answers 401: a console token opens a session (the cookie is set by the server). */
export function LoginForm({ api, onLoggedIn }: LoginFormProps): JSX.Element {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    if (!token.trim() || busy) return;
    setBusy(true);
    setError(undefined);
    try {
      const r = await api.login(token.trim());
      if (r.ok) onLoggedIn();
      else setError(r.error);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="login">
      <form class="panel login-panel" data-testid="login-form" onSubmit={(e) => void submit(e)}>
        <h1>vonode console</h1>
        <p class="muted">
          No client certificate of the site was presented. Sign in with a console token (see <span class="mono">tokensFile</span> in the coordinator
          config).
        </p>
        <label for="token">Token</label>
        <input id="token" type="password" autocomplete="current-password" value={token} onInput={(e) => setToken(e.currentTarget.value)} data-testid="login-token" autofocus />
        {error && (
          <div class="error" role="alert" data-testid="login-error">
            {error}
          </div>
        )}
        <button type="submit" class="primary" disabled={busy || !token.trim()} data-testid="login-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
