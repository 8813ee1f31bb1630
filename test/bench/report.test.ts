import { describe, expect, it } from 'vitest'
import { parseSections, renderReport, renderSection } from '../../bench/report.js'
import { median, table } from '../../bench/stats.js'

const header = '- CPU: test'

describe('bench report (docs/benchmarks.md)', () => {
  it('renders every fresh section in the given order', () => {
    const fresh = new Map([
      ['redis', renderSection('redis', { title: 'Redis store', markdown: 'redis table' }, 'today')],
      ['memory', renderSection('memory', { title: 'Memory store', markdown: 'memory table' }, 'today')],
    ])
    const text = renderReport({ header, order: ['memory', 'redis', 'http'], fresh, previous: '' })
    expect(text.indexOf('## Memory store')).toBeLessThan(text.indexOf('## Redis store'))
    expect(text).toContain('_Measured today._')
    expect(text).toContain(header)
    expect([...parseSections(text).keys()]).toEqual(['memory', 'redis'])
  })

  it('keeps the sections that were not run this time, verbatim', () => {
    const first = renderReport({
      header: '- old machine',
      order: ['memory', 'redis', 'http'],
      fresh: new Map([
        ['memory', renderSection('memory', { title: 'Memory store', markdown: 'old memory' }, 'yesterday')],
        ['http', renderSection('http', { title: 'HTTP', markdown: 'old http\n\n| a | b |\n| --- | --- |' }, 'yesterday')],
      ]),
      previous: '',
    })
    const second = renderReport({
      header,
      order: ['memory', 'redis', 'http'],
      fresh: new Map([['memory', renderSection('memory', { title: 'Memory store', markdown: 'new memory' }, 'today')]]),
      previous: first,
    })
    expect(second).toContain('new memory')
    expect(second).not.toContain('old memory')
    expect(parseSections(second).get('http')).toBe(parseSections(first).get('http'))
    expect(second).not.toContain('old machine')
  })

  it('keeps sections of names it does not know, after the known ones', () => {
    const previous = renderReport({
      header,
      order: ['extra'],
      fresh: new Map([['extra', renderSection('extra', { title: 'Extra', markdown: 'x' }, 'then')]]),
      previous: '',
    })
    const text = renderReport({
      header,
      order: ['memory'],
      fresh: new Map([['memory', renderSection('memory', { title: 'Memory store', markdown: 'm' }, 'now')]]),
      previous,
    })
    expect([...parseSections(text).keys()]).toEqual(['memory', 'extra'])
  })
})

describe('bench stats', () => {
  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([])).toBeNaN()
  })

  it('Markdown table with alignment', () => {
    expect(table(['a', 'b'], [['1', '2']], ['l', 'r'])).toBe('| a | b |\n| --- | ---: |\n| 1 | 2 |')
  })
})
