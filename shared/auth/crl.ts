import { verify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificateList } from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import { normalizeSerial } from './peer-identity.js';

/** A CRL that cannot be used: unparseable, or not signed by the site CA. */
export class CrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrlError';
  }
}

/** What vonode needs of a verified CRL. */
export interface VerifiedCrl {
  /** Revoked serial numbers, normalized (uppercase hex, no leading zeros). */
  serials: ReadonlySet<string>;
  /** When the issuer promised the next CRL (past: stale, still enforced). */
  nextUpdate: Date | undefined;
}

// Signature algorithms openssl uses for site CAs: the hash node:crypto.verify needs, or null for EdDSA.
const SIGNATURE_HASH: Record<string, string | null> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null, // Ed25519
};

/**
 * Parses a PEM or DER X.509 CRL and checks its signature with the CA's public
 * key (an unsigned or foreign list must not revoke, nor un-revoke, anything).
 * Throws CrlError saying what is wrong.
 */
export function verifyCrl(data: Buffer, caKey: KeyObject): VerifiedCrl {
  const der = toDer(data);
  let crl: CertificateList;
  try {
    crl = AsnConvert.parse(der, CertificateList);
  } catch (e) {
    throw new CrlError(`not an X.509 CRL (${(e as Error).message})`);
  }
  const hash = SIGNATURE_HASH[crl.signatureAlgorithm.algorithm];
  if (hash === undefined) throw new CrlError(`signature algorithm ${crl.signatureAlgorithm.algorithm} is not supported (use ECDSA, RSA or Ed25519 with SHA-2)`);
  const ok = verify(hash, tbsBytes(der), { key: caKey, dsaEncoding: 'der' }, Buffer.from(crl.signature));
  if (!ok) throw new CrlError('its signature does not verify with the site CA (tls.ca): it was not issued by this CA');
  const serials = new Set((crl.tbsCertList.revokedCertificates ?? []).map((r) => normalizeSerial(Buffer.from(r.userCertificate).toString('hex'))));
  const next = crl.tbsCertList.nextUpdate?.getTime();
  return { serials, nextUpdate: next ? new Date(next) : undefined };
}

function toDer(data: Buffer): Buffer {
  const text = data.toString('latin1');
  const m = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/.exec(text);
  if (m) return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  if (text.includes('-----BEGIN')) throw new CrlError('holds PEM data but no "BEGIN X509 CRL" block');
  return data;
}

/** The signed part exactly as it was encoded (re-encoding could differ byte for byte). */
function tbsBytes(der: Buffer): Buffer {
  const outer = asn1js.fromBER(der);
  const first = outer.offset !== -1 && outer.result instanceof asn1js.Sequence ? outer.result.valueBlock.value[0] : undefined;
  if (!first) throw new CrlError('not an X.509 CRL (no signed part)');
  return Buffer.from(first.valueBeforeDecodeView);
}
