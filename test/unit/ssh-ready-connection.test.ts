/**
 * What every SSH connection gets once ready (connector/ssh-auth.ts readyConnection): an error listener
 * that keeps a dropped link from crashing flanctl, and TCP_NODELAY (with Nagle on, each exec waited up to
 * 40 ms for a delayed ACK; this test guards the call, the bench shows the latency).
 */
import { describe, expect, it } from 'vitest';
import { readyConnection } from '../../src/connector/ssh-auth.js';

describe('readyConnection', () => {
  it('sets TCP_NODELAY and keeps an error listener', () => {
    const calls: string[] = [];
    const listeners: Array<() => void> = [];
    readyConnection({
      on: (event, listener) => {
        calls.push(`on ${event}`);
        listeners.push(listener);
      },
      setNoDelay: (noDelay) => calls.push(`setNoDelay ${noDelay}`),
    });
    expect(calls).toEqual(['on error', 'setNoDelay true']);
    expect(() => listeners[0]()).not.toThrow();
  });
});
