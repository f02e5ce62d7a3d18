/** Helpers for the sorted string arrays the world keeps (so paging is a slice, never a scan). */

/** Index of the first element `>= value` (binary search). */
export function lowerBound(arr: readonly string[], value: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((arr[mid] as string) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts keeping order; returns false if already present. */
export function insertSorted(arr: string[], value: string): boolean {
  const i = lowerBound(arr, value);
  if (arr[i] === value) return false;
  arr.splice(i, 0, value);
  return true;
}

/** Removes; returns false if absent. */
export function removeSorted(arr: string[], value: string): boolean {
  const i = lowerBound(arr, value);
  if (arr[i] !== value) return false;
  arr.splice(i, 1);
  return true;
}

/** Plain code-unit order, the order `Array.prototype.sort()` gives strings. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
