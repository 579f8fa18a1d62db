/**
 * The OpenAPI 3.1 document served at `GET /docs` (JSON). The event schema is the same TypeBox schema that
 * validates ingest, so the document cannot drift from what the server accepts.
 */
import { EcapiEvent } from '../model/ecapi.ts'

const ErrorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: {
        code: { type: 'string', example: 'E_EVENT_INVALID' },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              path: { type: 'string', example: '/events/3/timestamp' },
              message: { type: 'string' },
            },
          },
        },
      },
    },
  },
}

const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((c) => [
      String(c),
      {
        description: `error ${c}`,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    ]),
  )

const json = (schema: object, description = 'ok') => ({
  description,
  content: { 'application/json': { schema } },
})

export function openApiDocument() {
  return {
    openapi: '3.1.0',
    info: {
      title: 'closeloop',
      version: '0.1.0',
      description:
        'Server-side conversion signal router for phone conversions. Native event format: IAB ECAPI 1.0.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { EcapiEvent: JSON.parse(JSON.stringify(EcapiEvent)), Error: ErrorBody },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/events': {
        post: {
          summary: 'Ingest one ECAPI event or a batch { events: [...] }',
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  oneOf: [
                    { $ref: '#/components/schemas/EcapiEvent' },
                    {
                      type: 'object',
                      required: ['events'],
                      properties: {
                        events: {
                          type: 'array',
                          maxItems: 1000,
                          items: { $ref: '#/components/schemas/EcapiEvent' },
                        },
                      },
                    },
                  ],
                },
              },
            },
          },
          responses: {
            '200': json({ type: 'object' }, 'accepted or duplicate; a batch reports each event'),
            ...errors(400, 401, 413, 415, 503),
          },
        },
      },
      '/v1/events/{id}': {
        get: {
          summary: 'The trace of one event: raw input, canonical event, signals, deliveries and attempts',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': json({ type: 'object' }), ...errors(401, 404) },
        },
      },
      '/v1/sources/{source}/twilio': {
        get: {
          summary:
            'Twilio voice status callback with StatusCallbackMethod=GET (X-Twilio-Signature over the URL)',
          responses: { '200': json({}), ...errors(400, 401, 404) },
        },
        post: {
          summary: 'Twilio voice status callback (X-Twilio-Signature)',
          responses: { '200': json({}), ...errors(400, 401, 404) },
        },
      },
      '/v1/sources/{source}/webhook': {
        get: {
          summary:
            'Call platform pixel or webhook with its values in the query, mapped by preset or field map',
          responses: { '200': json({}), ...errors(400, 401, 404) },
        },
        post: {
          summary: 'Call platform webhook mapped by preset or field map',
          responses: { '200': json({}), ...errors(400, 401, 404) },
        },
      },
      '/v1/sources/{source}/postback': {
        get: {
          summary: 'Disposition / conversion postback (query)',
          responses: { '200': json({}), ...errors(400, 401, 403, 404) },
        },
        post: {
          summary: 'Disposition / conversion postback (form or JSON)',
          responses: { '200': json({}), ...errors(400, 401, 403, 404) },
        },
      },
      '/v1/clicks': {
        post: {
          summary:
            'First-touch click capture (API key, or a site key from its origins); may assign a DNI number',
          responses: { '200': json({ type: 'object' }), ...errors(400, 401, 503) },
        },
      },
      '/v1/dni': {
        get: {
          summary: 'A tracking number from the campaign pool for a visitor',
          parameters: ['campaign', 'visitor', 'key'].map((name) => ({
            name,
            in: 'query',
            schema: { type: 'string' },
          })),
          responses: { '200': json({ type: 'object' }), ...errors(400, 401, 404) },
        },
      },
      '/t.js': {
        get: {
          security: [],
          summary: 'The landing-page tag',
          responses: { '200': { description: 'JavaScript' } },
        },
      },
      '/v1/subjects/delete': {
        post: {
          summary: 'Remove or scrub every record of one person (email and/or phone); audit-logged',
          responses: { '200': json({ type: 'object' }), ...errors(400, 401) },
        },
      },
      '/v1/audit': {
        get: {
          summary: 'Audit log of deletions',
          responses: { '200': json({ type: 'object' }), ...errors(401) },
        },
      },
      '/v1/deliveries': {
        get: {
          summary: 'List deliveries (e.g. dead letters)',
          parameters: ['status', 'destination', 'limit', 'after'].map((name) => ({
            name,
            in: 'query',
            schema: { type: 'string' },
          })),
          responses: { '200': json({ type: 'object' }), ...errors(400, 401) },
        },
      },
      '/v1/deliveries/{id}/replay': {
        post: {
          summary: 'Replay a delivery',
          responses: { '200': json({ type: 'object' }), ...errors(401, 404) },
        },
      },
      '/v1/destinations': {
        get: { summary: 'Destinations and their health', responses: { '200': json({ type: 'object' }) } },
      },
      '/v1/destinations/{name}/resume': {
        post: {
          summary: 'Resume a paused destination',
          responses: { '200': json({ type: 'object' }), ...errors(401, 404) },
        },
      },
      '/v1/stats': {
        get: {
          summary:
            'Rows by table and deliveries by status; a large PostgreSQL table gives an estimate, named in `approximate`',
          responses: {
            '200': json({
              type: 'object',
              required: ['deliveries', 'events', 'signals'],
              properties: {
                deliveries: { type: 'object', additionalProperties: { type: 'integer' } },
                events: { type: 'integer' },
                signals: { type: 'integer' },
                approximate: { type: 'array', items: { type: 'string' } },
              },
            }),
            ...errors(401),
          },
        },
      },
      '/v1/reports/reconciliation': {
        get: {
          summary:
            'Per day (in `tz`, default `observe.timezone`) and campaign: events in, and per signal and destination what was delivered, pending, dead or skipped, with values and match rates (docs/observability.md)',
          parameters: [
            { name: 'from', in: 'query', schema: { type: 'string', format: 'date' } },
            { name: 'to', in: 'query', schema: { type: 'string', format: 'date' } },
            { name: 'format', in: 'query', schema: { type: 'string', enum: ['json', 'csv'] } },
            { name: 'tz', in: 'query', schema: { type: 'string', example: 'America/New_York' } },
          ],
          responses: {
            '200': {
              description: 'The report (JSON), or one CSV line per signal and destination',
              content: {
                'application/json': { schema: { type: 'object' } },
                'text/csv': { schema: { type: 'string' } },
              },
            },
            ...errors(400, 401),
          },
        },
      },
      '/v1/reports/match-rate': {
        get: {
          summary:
            'Per campaign and destination: the share of delivered conversions carrying a match key, now against the baseline, and which dropped',
          responses: { '200': json({ type: 'object' }), ...errors(400, 401) },
        },
      },
      '/healthz': {
        get: { security: [], summary: 'Liveness', responses: { '200': json({ type: 'object' }) } },
      },
      '/readyz': {
        get: {
          security: [],
          summary: 'Readiness (store reachable)',
          responses: { '200': json({ type: 'object' }), '503': json({}) },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'text exposition format' } },
        },
      },
    },
  }
}
