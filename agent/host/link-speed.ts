import si from 'systeminformation';

/**
 * Speed of the host's default network interface, Mbit/s, or 0 when the
 * kernel does not say (virtual NICs often report none): the coordinator then
 * plans with the site config's default link rate.
 */
export async function defaultLinkMbit(): Promise<number> {
  try {
    const nic = await si.networkInterfaces('default');
    const speed = Array.isArray(nic) ? nic[0]?.speed : nic.speed;
    return typeof speed === 'number' && Number.isFinite(speed) && speed > 0 ? Math.round(speed) : 0;
  } catch {
    return 0;
  }
}
