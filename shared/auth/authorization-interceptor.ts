import { Metadata, ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import type { Logger } from '../logger.js';
import { authorizeCall, authorizeRequest, type ResolvedAccess, type Verdict } from './access-control.js';
import type { RevocationList } from './revocation-list.js';

/**
 * The one place a server decides who may call what: a grpc-js server
 * interceptor that checks the caller's certificate (role, revocation) before
 * the handler starts, and a request's claimed identity (actsAs) before the
 * handler sees the message. A refused call never reaches a handler, so a
 * refusal cannot change any state.
 */
export function authorizationInterceptor(byPath: ReadonlyMap<string, ResolvedAccess>, revocations: RevocationList | undefined, logger: Logger): ServerInterceptor {
  return (descriptor, call) => {
    let refused = false;
    let verdict: Verdict | undefined;
    const refuse = (v: Extract<Verdict, { ok: false }>): void => {
      refused = true;
      logger.warn({ method: descriptor.path, caller: v.identity?.name, role: v.identity?.role, peer: call.getPeer(), reason: v.details }, 'call refused');
      call.sendStatus({ code: v.code, details: v.details, metadata: new Metadata() });
    };
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            verdict = authorizeCall(byPath, descriptor.path, call.getAuthContext()?.sslPeerCertificate, revocations);
            if (!verdict.ok) return refuse(verdict);
            pass(metadata);
          },
          onReceiveMessage: (message, pass) => {
            if (refused || !verdict?.ok) return;
            const entry = byPath.get(descriptor.path)!;
            const bound = authorizeRequest(entry, verdict.identity, message);
            if (!bound.ok) return refuse(bound);
            if (entry.access.audit) logger.info({ method: entry.method, caller: verdict.identity.name, role: verdict.identity.role }, 'call allowed');
            pass(message);
          },
          onReceiveHalfClose: (pass) => {
            if (!refused) pass();
          },
        }),
    });
  };
}
