// Watching for the end of a Node response (concurrency leases, settled costs, count modes) must
// not add a property to the response: Express gives every response another prototype, and V8
// turns such an object with one more property stored under a computed key into a dictionary-mode
// object, which made every later property access on it slow (about 90,000 more instructions per
// Express request with one concurrency policy).
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { onFinished } from '../../src/http/node.js'

describe('onFinished', () => {
  it('adds listeners to the response and no property to it, however many limiters watch it', () => {
    const res = new ServerResponse(new IncomingMessage(new Socket()))
    const keys = Reflect.ownKeys(res)
    const finished: boolean[] = []
    onFinished(res, (r) => finished.push(r.aborted), res)
    onFinished(res, (r) => finished.push(r.aborted), res)
    expect(Reflect.ownKeys(res)).toEqual(keys)
    expect(res.listenerCount('finish')).toBe(2)
    res.emit('finish')
    res.emit('close')
    expect(finished).toEqual([false, false])
  })
})
