import { describe, expect, it } from 'vitest';
import { loadInOrder, loadOnce } from '../../src/load-order.js';

describe('load-order: heavy imports evaluated in the order they were asked for', () => {
  it('a later load starts only once every earlier one has settled, even when the earlier one is slower or fails', async () => {
    const events: string[] = [];
    let finishFirst!: () => void;
    const first = loadInOrder(async () => {
      events.push('first start');
      await new Promise<void>((r) => (finishFirst = r));
      events.push('first end');
      throw new Error('first failed');
    });
    const second = loadInOrder(async () => {
      events.push('second start');
      return 2;
    });
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual(['first start']);
    finishFirst();
    await expect(first).rejects.toThrow('first failed');
    await expect(second).resolves.toBe(2);
    expect(events).toEqual(['first start', 'first end', 'second start']);
  });

  it('loadOnce runs its load once and shares the promise', async () => {
    let runs = 0;
    const load = loadOnce(async () => ++runs);
    const [a, b] = await Promise.all([load(), load()]);
    expect([a, b, await load(), runs]).toEqual([1, 1, 1, 1]);
  });
});
