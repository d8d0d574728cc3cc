import { expect } from 'chai';
import fc from 'fast-check';
import { fairShareTargets, type VoClaim } from '../../../../coordinator/planner/fair-share.js';

const claim = (vo: string, weight: number, demand: number, min = 0, max = 1000): VoClaim => ({ vo, weight, demand, min, max });

describe('coordinator/planner/fairShareTargets', () => {
  it('splits 7 nodes 2:5 between bio and fusion when both want more', () => {
    expect(fairShareTargets(7, [claim('bio', 2, 100), claim('fusion', 5, 100)])).to.deep.equal({ bio: 2, fusion: 5 });
  });

  it('gives capacity a VO does not need to the others (max-min)', () => {
    expect(fairShareTargets(10, [claim('bio', 2, 100), claim('fusion', 5, 1)])).to.deep.equal({ bio: 9, fusion: 1 });
  });

  it('raises a VO to its min with no demand, and caps at max', () => {
    expect(fairShareTargets(10, [claim('bio', 2, 0, 1), claim('fusion', 5, 100, 0, 4)])).to.deep.equal({ bio: 1, fusion: 4 });
  });

  it('meets mins in weight order when they exceed capacity', () => {
    expect(fairShareTargets(3, [claim('bio', 2, 9, 2), claim('fusion', 5, 9, 2)])).to.deep.equal({ bio: 1, fusion: 2 });
  });

  it('gives nothing when there is no capacity or no demand', () => {
    expect(fairShareTargets(0, [claim('bio', 1, 5)])).to.deep.equal({ bio: 0 });
    expect(fairShareTargets(5, [claim('bio', 1, 0)])).to.deep.equal({ bio: 0 });
  });

  const claimsArb = fc.uniqueArray(
    fc.record({
      vo: fc.constantFrom('bio', 'fusion', 'astro', 'hep', 'chem'),
      weight: fc.integer({ min: 1, max: 10 }),
      demand: fc.integer({ min: 0, max: 60 }),
      min: fc.integer({ min: 0, max: 3 }),
      max: fc.integer({ min: 0, max: 60 }),
    }),
    { minLength: 1, maxLength: 5, selector: (c) => c.vo },
  );

  it('property: never above capacity', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 100 }), claimsArb, (cap, claims) => {
      const t = fairShareTargets(cap, claims);
      return Object.values(t).reduce((s, x) => s + x, 0) <= cap;
    }), { numRuns: 2000 });
  });

  it('property: never above a VO\'s demand or max, except to honour its min', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 100 }), claimsArb, (cap, claims) => {
      const t = fairShareTargets(cap, claims);
      return claims.every((c) => t[c.vo]! <= Math.max(c.min, Math.min(c.demand, c.max)));
    }), { numRuns: 2000 });
  });

  it('property: mins are met whenever capacity covers them', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 100 }), claimsArb, (cap, claims) => {
      const t = fairShareTargets(cap, claims);
      const sumMin = claims.reduce((s, c) => s + c.min, 0);
      return sumMin > cap || claims.every((c) => t[c.vo]! >= c.min);
    }), { numRuns: 2000 });
  });

  it('property: uses all capacity that some VO can use (work-conserving)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 100 }), claimsArb, (cap, claims) => {
      const t = fairShareTargets(cap, claims);
      const used = Object.values(t).reduce((s, x) => s + x, 0);
      const usable = claims.reduce((s, c) => s + Math.max(c.min, Math.min(c.demand, c.max)), 0);
      return used === Math.min(cap, usable);
    }), { numRuns: 2000 });
  });

  it('property: 2:5 weights with unmet demand give 2/7 and 5/7 of the nodes, ±1', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 200 }), (cap) => {
      const t = fairShareTargets(cap, [claim('bio', 2, 1000), claim('fusion', 5, 1000)]);
      return Math.abs(t['bio']! - (cap * 2) / 7) <= 1 && Math.abs(t['fusion']! - (cap * 5) / 7) <= 1 && t['bio']! + t['fusion']! === cap;
    }), { numRuns: 500 });
  });
});
