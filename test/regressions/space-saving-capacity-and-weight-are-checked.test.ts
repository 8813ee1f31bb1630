// SpaceSaving is exported for streams of one's own, and took any capacity and weight unchecked:
// a capacity of 0, a negative one or NaN built a sketch whose first add() crashed with a
// TypeError ("reading 'key'" of undefined), 1.5 was silently a capacity of 2, and a weight of
// NaN, 0 or a negative number broke its bounds (a NaN total, negative counts and errors). Each is
// now an error naming the argument.
import { expect, it } from 'vitest'
import { SpaceSaving } from '../../src/metrics/index.js'

it('a capacity must be an integer of at least 1', () => {
  for (const capacity of [0, -1, 1.5, Number.NaN, '3']) {
    expect(() => new SpaceSaving(capacity as number), String(capacity)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'capacity' }),
    )
  }
  expect(new SpaceSaving(1).capacity).toBe(1)
})

it('a weight must be a finite number above 0', () => {
  const sketch = new SpaceSaving(2)
  for (const weight of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, '2']) {
    expect(() => sketch.add('a', weight as number), String(weight)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'weight' }),
    )
  }
  sketch.add('a', 2.5)
  sketch.add('b')
  expect(sketch.total).toBe(3.5)
  expect(sketch.top()).toEqual([
    { key: 'a', count: 2.5, error: 0 },
    { key: 'b', count: 1, error: 0 },
  ])
})
