/** Small ordered containers for the engine: a sorted array and a min-heap of deadlines. */

/** An array kept sorted by `compare` (a total order: no two items compare equal). */
export class SortedList<T> {
  private readonly items: T[] = []

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get length(): number {
    return this.items.length
  }

  /** O(log n) search + O(n) move. */
  insert(item: T): number {
    const at = this.lowerBound(item)
    this.items.splice(at, 0, item)
    return at
  }

  /** O(log n) search + O(n) move; false when absent. */
  remove(item: T): boolean {
    const at = this.indexOf(item)
    if (at === -1) return false
    this.items.splice(at, 1)
    return true
  }

  /** 0-based rank, -1 when absent. O(log n). */
  indexOf(item: T): number {
    const at = this.lowerBound(item)
    const found = this.items[at]
    return found !== undefined && this.compare(found, item) === 0 ? at : -1
  }

  at(index: number): T | undefined {
    return this.items[index]
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.items[Symbol.iterator]()
  }

  toArray(): T[] {
    return [...this.items]
  }

  private lowerBound(item: T): number {
    let lo = 0
    let hi = this.items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.compare(this.items[mid]!, item) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

export interface Deadline<K extends string> {
  readonly at: number
  readonly kind: K
  readonly id: string
}

/**
 * Deadlines by time (ties by insertion), lazily invalidated: the owner checks a popped deadline
 * still holds (the lease still ends then, the grant still starts then) and ignores it otherwise.
 */
export class DeadlineHeap<K extends string> {
  private readonly heap: (Deadline<K> & { order: number })[] = []
  private order = 0

  get size(): number {
    return this.heap.length
  }

  push(deadline: Deadline<K>): void {
    const heap = this.heap
    heap.push({ ...deadline, order: this.order++ })
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(i, parent)) break
      this.swap(i, parent)
      i = parent
    }
  }

  peek(): Deadline<K> | undefined {
    return this.heap[0]
  }

  pop(): Deadline<K> | undefined {
    const heap = this.heap
    const top = heap[0]
    const last = heap.pop()
    if (top === undefined || last === undefined || heap.length === 0) return top
    heap[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < heap.length && this.less(l, min)) min = l
      if (r < heap.length && this.less(r, min)) min = r
      if (min === i) break
      this.swap(i, min)
      i = min
    }
    return top
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]!
    const y = this.heap[b]!
    return x.at < y.at || (x.at === y.at && x.order < y.order)
  }

  private swap(a: number, b: number): void {
    const x = this.heap[a]!
    this.heap[a] = this.heap[b]!
    this.heap[b] = x
  }
}
