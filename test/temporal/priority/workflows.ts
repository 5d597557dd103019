/** A workflow that only says when its first workflow task ran (test/temporal/priority.test.ts). */
export async function firstTaskAt(): Promise<number> {
  return Date.now();
}
