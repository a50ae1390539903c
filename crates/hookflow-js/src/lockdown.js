// Run once when an engine starts, before any script: what a script may not use goes, and every
// built-in object is frozen, so that no run can change what the next one sees. Properties that
// scripts commonly set on their own objects (`name`, `message`, `toString`, ...) become accessors
// on the frozen prototypes, so that assigning them on an object still defines the object's own.
(() => {
  "use strict";
  for (const name of ["eval", "WeakRef", "FinalizationRegistry"]) {
    delete globalThis[name];
  }
  const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, freeze, prototype } = Object;
  const hasOwn = Object.prototype.hasOwnProperty;
  const OVERRIDABLE = ["constructor", "name", "message", "toString", "valueOf", "toJSON",
    "toLocaleString", "stack", "cause"];
  const overridable = (proto) => {
    for (const key of OVERRIDABLE) {
      const d = getOwnPropertyDescriptor(proto, key);
      if (!d || !("value" in d) || !d.writable || !d.configurable) continue;
      const value = d.value;
      defineProperty(proto, key, {
        get() { return value; },
        set(v) {
          if (this === proto) throw new TypeError(`Cannot assign to read only property '${key}'`);
          if (hasOwn.call(this, key)) this[key] = v;
          else defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
        },
        enumerable: d.enumerable,
        configurable: false,
      });
    }
  };
  const roots = [
    globalThis,
    getPrototypeOf(function* () {}),
    getPrototypeOf(async function () {}),
    getPrototypeOf(async function* () {}),
    getPrototypeOf((function* () {})()),
    getPrototypeOf((async function* () {})()),
    getPrototypeOf([][Symbol.iterator]()),
    getPrototypeOf(new Map()[Symbol.iterator]()),
    getPrototypeOf(new Set()[Symbol.iterator]()),
    getPrototypeOf(""[Symbol.iterator]()),
    getPrototypeOf("x".matchAll(/x/g)),
    getPrototypeOf(Int8Array),
  ];
  const seen = new Set();
  const pending = [...roots];
  while (pending.length > 0) {
    const o = pending.pop();
    if ((typeof o !== "object" && typeof o !== "function") || o === null || seen.has(o)) continue;
    seen.add(o);
    if (o === prototype || (typeof o.constructor === "function" && hasOwn.call(o, "constructor"))) {
      overridable(o);
    }
    for (const key of Reflect.ownKeys(o)) {
      const d = getOwnPropertyDescriptor(o, key);
      if (!d) continue;
      if ("value" in d) pending.push(d.value);
      else pending.push(d.get, d.set);
    }
    pending.push(getPrototypeOf(o));
  }
  for (const o of seen) freeze(o);
})();
