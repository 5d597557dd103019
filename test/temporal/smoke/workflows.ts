// Trivial workflows for the toolchain smoke test: one timer, one signal.
import { condition, defineSignal, setHandler, sleep } from '@temporalio/workflow';

export const poke = defineSignal<[string]>('poke');

export async function sleepThenGreet(name: string): Promise<string> {
  await sleep('1 day');
  return `hello ${name}`;
}

export async function waitForPoke(): Promise<string> {
  let received: string | undefined;
  setHandler(poke, (value) => {
    received = value;
  });
  await condition(() => received !== undefined);
  return received!;
}
