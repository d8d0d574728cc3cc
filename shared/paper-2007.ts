/**
 * The 2007 prototype's figures (seed paper), seconds, for one VM: Table 2
 * (deployment phases CR..SR), Fig. 3 (the information system, 170 s, and the
 * meta-scheduler, 90 s, which ran side by side after SR) and Table 3 (a
 * removal: command received, VM destroyed). The console draws them as ghost
 * bars under each deployment's timeline.
 */
export const PAPER_2007_DEPLOY_S = { CR: 2, PT: 96.8, DA: 4.58, VMB: 3, VMR: 10.67, SR: 1.5, PUB: 170, GW: 90 } as const;
export const PAPER_2007_REMOVAL_S = { RC: 0.78, VMD: 6.22 } as const;
