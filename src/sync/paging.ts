/**
 * Reading the pages of a listing several at a time while judging them one by one: once page 1
 * has told how many pages there are, the rest go out `parallel` at a time and come back in page
 * order. The caller stops early by leaving its loop (the rest of the batch, already read, is dropped).
 */
export async function* pagesInOrder<P>(
  first: number,
  last: number,
  parallel: number,
  fetch: (pageNumber: number) => Promise<P>,
): AsyncGenerator<[pageNumber: number, page: P]> {
  for (let next = first; next <= last; next += parallel) {
    const numbers: number[] = [];
    for (let n = next; n < next + parallel && n <= last; n++) numbers.push(n);
    const batch = await Promise.all(numbers.map(fetch));
    for (const [i, page] of batch.entries()) yield [numbers[i] as number, page];
  }
}
