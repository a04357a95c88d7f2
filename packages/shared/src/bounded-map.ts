/**
 * Keeps an in-memory cache within its bound: when a Map holds more than `capacity` entries, drops
 * the oldest-inserted until it holds nine tenths of it (a Map iterates in insertion order, so
 * callers that re-insert an entry on use get least-recently-used eviction). Dropping a tenth at a
 * time keeps the cost of staying under the bound amortised.
 */
export function trimOldest<K, V>(map: Map<K, V>, capacity: number): void {
  if (map.size <= capacity) return;
  let drop = map.size - Math.floor(capacity * 0.9);
  for (const key of map.keys()) {
    if (drop-- <= 0) break;
    map.delete(key);
  }
}
