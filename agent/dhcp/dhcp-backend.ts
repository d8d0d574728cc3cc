/** A static DHCP reservation: the pool triple of one VM. */
export interface DhcpReservation {
  hostname: string;
  mac: string;
  ip: string;
}

/** The lease a guest obtained. */
export interface Lease {
  mac: string;
  ip: string;
}

/**
 * A DHCP server's reservations (dnsmasq host files, ISC dhcpd host blocks)
 * and its lease events. Values arrive validated.
 */
export interface DhcpBackend {
  readonly kind: 'dnsmasq' | 'isc-dhcpd';
  /** Starts watching leases; call once before use. */
  open(): Promise<void>;
  /** Adds or replaces the reservation; resolves once the server has loaded it. Throws on failure, leaving no partial file. */
  add(reservation: DhcpReservation, signal?: AbortSignal): Promise<void>;
  /** Removes a reservation by hostname; a missing one is not an error. */
  remove(hostname: string): Promise<void>;
  /** Reservations currently configured (for restart recovery). */
  list(): Promise<DhcpReservation[]>;
  /**
   * Arms a wait for a NEW lease of `mac` (an older lease of the same pool
   * triple does not count). Arm it before the guest starts; the returned
   * promise resolves with the lease, or rejects on timeout or abort.
   */
  waitForLease(mac: string, timeoutMs: number, signal?: AbortSignal): Promise<Lease>;
  /** Stops watching. */
  close(): Promise<void>;
}
