import type { ApiClient } from '../model/api-client.js';
import type { SiteModel } from '../model/site-model.js';
import type { Timers } from '../model/timers.js';

/** What every view reads: the live model, the API (for the views that load on demand) and the timers. */
export interface Site {
  model: SiteModel;
  api: ApiClient;
  timers: Timers;
}
