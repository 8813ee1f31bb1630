// An LLM proxy limited the way model gateways limit: tokens per minute and per day per API key,
// and a few completions in flight per key. A request is charged its estimate when it arrives
// (the prompt's tokens plus its `max_tokens`), and settled at what it really used when its
// streamed answer ends; a client that hangs up keeps the estimate.
//
//   node --import tsx examples/llm-proxy.ts
//   curl -N -H 'x-api-key: sk_demo' -d '{"prompt":"tell me a story","max_tokens":50}' http://127.0.0.1:3000/v1/completions

import { pathToFileURL } from 'node:url'
import { concurrency, createLimiter, fixedWindow, tokenBucket } from 'ratekeeper'
import { setActualCost, withRateLimit } from 'ratekeeper/fetch'
import { serveFetch } from './fetch-hono.js'

/** A model: yields the completion's tokens one by one (a real proxy streams its upstream's). */
export type Model = (prompt: string, maxTokens: number) => AsyncIterable<string>

/** A stand-in model: echoes the prompt's words until `maxTokens`, then stops. */
export const echoModel: Model = async function* echo(prompt, maxTokens) {
  const words = prompt.split(/\s+/).filter(Boolean)
  for (let i = 0; i < Math.min(maxTokens, words.length * 2); i++) yield words[i % words.length]
}

/** Tokens of a text, as a tokenizer would roughly count them: one per word. */
export const countTokens = (text: string): number => text.split(/\s+/).filter(Boolean).length

interface CompletionRequest {
  prompt: string
  max_tokens: number
}

/** The body of a completion request, or `undefined` when it is not one. */
async function completionOf(request: Request): Promise<CompletionRequest | undefined> {
  try {
    const body = (await request.clone().json()) as Partial<CompletionRequest>
    if (typeof body.prompt !== 'string' || !Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1) return undefined
    return { prompt: body.prompt, max_tokens: Math.min(body.max_tokens as number, 4096) }
  } catch {
    return undefined
  }
}

export function createLlmProxy(options: { now?: () => number; model?: Model } = {}) {
  const model = options.model ?? echoModel
  const limiter = createLimiter({
    now: options.now,
    policies: [
      concurrency({ name: 'in-flight', limit: 2, leaseMs: '5m' }),
      tokenBucket({ name: 'tokens-per-minute', limit: 10_000, window: '1m' }),
      fixedWindow({ name: 'tokens-per-day', limit: 200_000, window: '1d' }),
    ],
  })

  // The second argument is what the server passes along (here: `{ ip }`).
  const completions = async (request: Request, _context?: { ip?: string }): Promise<Response> => {
    const completion = await completionOf(request)
    if (completion === undefined) return Response.json({ error: 'expected { prompt, max_tokens }' }, { status: 400 })
    const promptTokens = countTokens(completion.prompt)
    const encoder = new TextEncoder()
    const tokens = model(completion.prompt, completion.max_tokens)[Symbol.asyncIterator]()
    let used = 0
    // Server-sent events, one per token; the last says what was used. The cost is reported before the stream ends.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await tokens.next()
        if (next.done === true) {
          const usage = { prompt_tokens: promptTokens, completion_tokens: used, total_tokens: promptTokens + used }
          setActualCost(request, usage.total_tokens)
          controller.enqueue(encoder.encode(`data: ${JSON.stringify({ usage })}\n\ndata: [DONE]\n\n`))
          controller.close()
          return
        }
        used++
        controller.enqueue(encoder.encode(`data: ${JSON.stringify({ token: next.value })}\n\n`))
      },
      cancel() {
        // The client hung up: stop the model (not awaited: a generator mid-token returns once that token is done).
        void tokens.return?.(undefined)
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
  }

  const handler = withRateLimit(completions, {
    limiter,
    key: (request) => request.headers.get('x-api-key') ?? undefined,
    // The estimate: everything the request may use. A malformed request costs 1 (it gets its 400).
    cost: async (request) => {
      const completion = await completionOf(request)
      return completion === undefined ? 1 : countTokens(completion.prompt) + completion.max_tokens
    },
    // Settled at what the handler reported with setActualCost before the stream ended.
    actualCost: true,
    ip: (_request, context) => (context as { ip?: string } | undefined)?.ip,
  })
  return { handler, limiter, close: () => limiter.close() }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  const { handler } = createLlmProxy()
  serveFetch((request, env) => handler(request, { ip: env.incoming.socket.remoteAddress }), port)
  console.log(`LLM proxy on http://127.0.0.1:${port}/v1/completions (x-api-key: any key)`)
}
