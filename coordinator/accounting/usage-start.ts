import type { VmSpec } from '../../shared/gen/vonode/v1/common.js';
import { usageId, type UsageRecord } from '../store/records.js';

/** A new usage record's fields: the VM as deployed (its spec), where, by which attempt, since when. */
export function usageStart(
  spec: Pick<VmSpec, 'hostname' | 'vo' | 'disk' | 'vcpus' | 'memoryMb'>,
  at: { host: string; operationId: string; attempt: number; startMs: number; applianceId?: string },
): Omit<UsageRecord, 'endMs' | 'status' | 'endOperationId'> {
  return {
    id: usageId(at.operationId, at.attempt),
    vo: spec.vo,
    node: spec.hostname,
    host: at.host,
    imageUrl: spec.disk?.url ?? '',
    imageSha256: spec.disk?.sha256 ?? '',
    applianceId: at.applianceId ?? '',
    vcpus: spec.vcpus,
    memoryMb: spec.memoryMb,
    startMs: at.startMs,
    startOperationId: at.operationId,
  };
}
