import { expect } from 'chai';
import { shapeMismatch, templateKey, type TemplateShape } from '../../../../agent/templates/template-key.js';
import { templateShape } from '../../../helpers/agent-fakes.js';

const shape = templateShape;

describe('agent/templates/template-key', () => {
  const variants: Array<[keyof TemplateShape, Partial<TemplateShape>]> = [
    ['hypervisor', { hypervisor: 'libvirt' }],
    ['hypervisorVersion', { hypervisorVersion: 'QEMU emulator version 8.0.0; machine pc; accel tcg' }],
    ['diskSha256', { diskSha256: 'd'.repeat(64) }],
    ['kernelSha256', { kernelSha256: 'e'.repeat(64) }],
    ['initrdSha256', { initrdSha256: 'f'.repeat(64) }],
    ['cmdline', { cmdline: 'console=ttyS0 vonode.template=1 init_on_free=1' }],
    ['memoryMb', { memoryMb: 512 }],
    ['vcpus', { vcpus: 2 }],
  ];

  describe('templateKey', () => {
    it('is 32 lower-case hex characters and the same for the same shape', () => {
      const k = templateKey(shape());
      expect(k).to.match(/^[0-9a-f]{32}$/);
      expect(templateKey(shape())).to.equal(k);
    });

    it('does not depend on the order of the shape\'s properties', () => {
      const s = shape();
      const reordered = Object.fromEntries(Object.entries(s).reverse()) as unknown as TemplateShape;
      expect(templateKey(reordered)).to.equal(templateKey(s));
    });

    for (const [field, change] of variants) {
      it(`changes with ${field}`, () => {
        expect(templateKey(shape(change))).to.not.equal(templateKey(shape()));
      });
    }

    it('ignores the VO (the images already identify the appliance)', () => {
      expect(templateKey(shape({ vo: 'atlas' }))).to.equal(templateKey(shape()));
    });

    it('does not confuse values that run into each other when joined', () => {
      const a = shape({ cmdline: 'x', diskSha256: 'ab' });
      const b = shape({ cmdline: 'bx', diskSha256: 'a' });
      expect(templateKey(a)).to.not.equal(templateKey(b));
      expect(templateKey(shape({ memoryMb: 12, vcpus: 3 }))).to.not.equal(templateKey(shape({ memoryMb: 1, vcpus: 23 })));
    });

    it('gives every variant its own key', () => {
      const keys = new Set([templateKey(shape()), ...variants.map(([, c]) => templateKey(shape(c)))]);
      expect(keys.size).to.equal(variants.length + 1);
    });
  });

  describe('shapeMismatch', () => {
    it('is undefined for equal shapes, also when only the VO differs', () => {
      expect(shapeMismatch(shape(), shape())).to.equal(undefined);
      expect(shapeMismatch(shape(), shape({ vo: 'atlas' }))).to.equal(undefined);
    });

    for (const [field, change] of variants) {
      it(`names ${field} with both values when it differs`, () => {
        const msg = shapeMismatch(shape(change), shape());
        expect(msg).to.be.a('string');
        expect(msg!.startsWith(`${field}: `)).to.equal(true);
        expect(msg).to.contain(`template has ${JSON.stringify(shape()[field])}`);
        expect(msg).to.contain(`this VM needs ${JSON.stringify(shape(change)[field])}`);
      });
    }

    it('names the first differing field in key order', () => {
      const msg = shapeMismatch(shape({ vcpus: 4, hypervisorVersion: 'other' }), shape());
      expect(msg).to.match(/^hypervisorVersion: /);
    });
  });
});
