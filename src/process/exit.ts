/**
 * How every process of ours ends (worker, ingress, the CLIs), in one place. Exit statuses follow
 * sysexits(3) where one fits, so a supervisor can tell a bad configuration (78: fix it, do not
 * restart in a loop) from a failure (1) or a mistyped command line (2).
 */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONFIG = 78;

/** The command line is wrong: the process prints the message and its usage and exits EXIT_USAGE. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
