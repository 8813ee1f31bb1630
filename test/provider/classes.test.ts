import { describe, expect, it } from 'vitest'
import { requestClasses } from '../../src/provider/index.js'

const req = (method: string, route: string | undefined, path = route ?? '/') => ({ method, route, path })

describe('requestClasses', () => {
  it('classes by method by default (read, write, delete; other methods write)', () => {
    const c = requestClasses()
    expect(c.classify(req('GET', '/x'))).toBe('read')
    expect(c.classify(req('HEAD', '/x'))).toBe('read')
    expect(c.classify(req('OPTIONS', '/x'))).toBe('read')
    expect(c.classify(req('POST', '/x'))).toBe('write')
    expect(c.classify(req('PUT', '/x'))).toBe('write')
    expect(c.classify(req('PATCH', '/x'))).toBe('write')
    expect(c.classify(req('DELETE', '/x'))).toBe('delete')
    expect(c.classify(req('PROPFIND', '/x'))).toBe('write')
    expect(c.classes).toEqual(['read', 'write', 'delete'])
  })

  it('lets methods be remapped (managed.dev counts DELETE as write)', () => {
    const c = requestClasses({ methods: { DELETE: 'write' } })
    expect(c.classify(req('DELETE', '/v1/keys/:id'))).toBe('write')
    expect(c.classes).toEqual(['read', 'write'])
  })

  it('routes override the method, by template, whatever the parameter names', () => {
    const c = requestClasses({
      routes: {
        'POST /v1/jobs': 'create',
        'POST /auth/token': 'auth',
        '/v1/projects/:projectId/runs': 'create',
        'GET /reports/*': 'expensive',
      },
    })
    expect(c.classify(req('POST', '/v1/jobs'))).toBe('create')
    expect(c.classify(req('GET', '/v1/jobs'))).toBe('read')
    expect(c.classify(req('POST', '/auth/token'))).toBe('auth')
    expect(c.classify(req('PUT', '/v1/projects/:id/runs'))).toBe('create')
    expect(c.classify(req('GET', '/v1/projects/{id}/runs'))).toBe('create')
    expect(c.classify(req('GET', '/reports/2024/q1'))).toBe('expensive')
    expect(c.classify(req('HEAD', '/reports/:year'))).toBe('expensive')
    expect(c.classify(req('GET', '/reports'))).toBe('expensive')
    expect(c.classes).toEqual(['read', 'write', 'delete', 'create', 'auth', 'expensive'])
  })

  it('method-specific entries win over method-less ones', () => {
    const c = requestClasses({ routes: { '/auth/token': 'read', 'POST /auth/token': 'auth' } })
    expect(c.classify(req('POST', '/auth/token'))).toBe('auth')
    expect(c.classify(req('GET', '/auth/token'))).toBe('read')
  })

  it('route-escape-by-path-spelling: without a template the path matches like a router', () => {
    const c = requestClasses({ routes: { 'POST /auth/token': 'auth', 'POST /v1/jobs/:id/run': 'create' } })
    for (const path of ['/auth/token', '/Auth/Token', '/auth/token/', '//auth//token', '/%61uth/token', '/AUTH/%74oken/?x=1']) {
      expect(c.classify(req('POST', undefined, path)), path).toBe('auth')
    }
    expect(c.classify(req('POST', undefined, '/v1/jobs/42/run'))).toBe('create')
    expect(c.classify(req('POST', undefined, '/v1/jobs/42/run/extra'))).toBe('write')
    expect(c.classify(req('POST', undefined, '/auth/%E0%A4%A'))).toBe('write')
    expect(c.classify(req('GET', undefined, '/auth/token'))).toBe('read')
  })

  it('rejects bad options with a clear error', () => {
    const code = (fn: () => unknown) => {
      try {
        fn()
      } catch (error) {
        return (error as { code?: string }).code
      }
      return undefined
    }
    expect(code(() => requestClasses({ routes: { 'post /x': 'auth' } }))).toBe('ERR_RK_INVALID_OPTION')
    expect(code(() => requestClasses({ routes: { 'POST x': 'auth' } }))).toBe('ERR_RK_INVALID_OPTION')
    expect(code(() => requestClasses({ routes: { 'POST /x': 'has space' } }))).toBe('ERR_RK_INVALID_OPTION')
    expect(code(() => requestClasses({ routes: { '/a/*/b': 'x' } }))).toBe('ERR_RK_INVALID_OPTION')
    expect(code(() => requestClasses({ routes: { 'POST /a/:x': 'one', 'POST /a/:y': 'two' } }))).toBe('ERR_RK_INVALID_OPTION')
    expect(code(() => requestClasses({ methods: { get: 'read' } }))).toBe('ERR_RK_INVALID_OPTION')
    expect(code(() => requestClasses({ methods: [] as never }))).toBe('ERR_RK_INVALID_OPTION')
    expect(code(() => requestClasses({ route: {} } as never))).toBe('ERR_RK_UNKNOWN_OPTION')
    expect(() => requestClasses({ routes: { 'POST /x': '' } })).toThrow(/routes\["POST \/x"\]/)
  })
})
