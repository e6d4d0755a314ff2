/**
 * A store whose `transact` is another function (one that times the change, or adds to it), every
 * other method the store's own: bound to the store itself (they may use private fields, which a
 * proxy lacks), once each, for a store call is on every login's path.
 */
import type { Store } from '../ports.ts';

export function withTransact<S extends Store>(store: S, transact: Store['transact']): S {
  const bound = new Map<PropertyKey, unknown>([['transact', transact]]);
  return new Proxy(store, {
    get(target, prop) {
      if (bound.has(prop)) return bound.get(prop);
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const method = value.bind(target);
      bound.set(prop, method);
      return method;
    },
  });
}
