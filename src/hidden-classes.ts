const kept: object[] = [];

/**
 * Keeps `instance` for the life of the process. V8 holds the hidden class of a class's instances (the
 * shape their fields give them) only while some instance lives, and drops the code it optimized for
 * that shape with it. A class made anew for each translation (Reports, ResourceOwners...) would lose
 * both at every full collection, and every translation would start again in unoptimized code.
 */
export function keepHiddenClass(instance: object): void {
  kept.push(instance);
}
