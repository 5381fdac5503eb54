// The test-only API under /__test/: what the relying parties did (events) and
// a switch that makes chosen endpoints fail or hang (faults).
import { ENDPOINT_NAMES } from './endpoints.js';
import { readBody, sendJson, sendEmpty } from './http-util.js';

const MAX_EVENTS = 10000;
const MAX_DELAY_MS = 600000;

export class EventLog {
  #events = [];

  #seq = 0;

  record(event) {
    this.#seq += 1;
    this.#events.push({ seq: this.#seq, time: new Date().toISOString(), ...event });
    if (this.#events.length > MAX_EVENTS) this.#events.shift();
  }

  list(type) {
    return type ? this.#events.filter((event) => event.type === type) : [...this.#events];
  }

  clear() {
    this.#events = [];
  }
}

// Checks a fault rule from POST /__test/fail; returns the normalized rule or
// throws Error with a message for the test author.
export function parseFaultRule(input) {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new Error('expected a JSON object like {"endpoint":"revocation","status":503,"times":1}');
  }
  const known = new Set(['endpoint', 'status', 'delay_ms', 'times', 'drop']);
  const unknown = Object.keys(input).filter((key) => !known.has(key));
  if (unknown.length) throw new Error(`unknown field(s): ${unknown.join(', ')}`);

  const rule = {};
  if (input.endpoint !== undefined) {
    if (!ENDPOINT_NAMES.includes(input.endpoint)) {
      throw new Error(`endpoint must be one of ${ENDPOINT_NAMES.join(', ')}; got ${JSON.stringify(input.endpoint)}`);
    }
    rule.endpoint = input.endpoint;
  }
  if (input.status !== undefined) {
    if (!Number.isInteger(input.status) || input.status < 200 || input.status > 599) {
      throw new Error('status must be an integer from 200 to 599');
    }
    rule.status = input.status;
  }
  if (input.delay_ms !== undefined) {
    if (!Number.isInteger(input.delay_ms) || input.delay_ms < 0 || input.delay_ms > MAX_DELAY_MS) {
      throw new Error(`delay_ms must be an integer from 0 to ${MAX_DELAY_MS}`);
    }
    rule.delay_ms = input.delay_ms;
  }
  if (input.drop !== undefined) {
    if (typeof input.drop !== 'boolean') throw new Error('drop must be true or false');
    if (input.drop) rule.drop = true;
  }
  if (input.times !== undefined) {
    if (!Number.isInteger(input.times) || input.times < 1) throw new Error('times must be a positive integer');
    rule.times = input.times;
  }
  if (rule.status === undefined && rule.delay_ms === undefined && !rule.drop) {
    throw new Error('give at least one of status, delay_ms or drop');
  }
  if (rule.status !== undefined && rule.drop) throw new Error('status and drop exclude each other');
  return rule;
}

export class FaultSwitch {
  #rules = [];

  add(rule) {
    this.#rules.push({ ...rule });
  }

  list() {
    return this.#rules.map((rule) => ({ ...rule }));
  }

  clear() {
    this.#rules = [];
  }

  // The first rule that applies to `endpoint`, counting one use of it; a rule
  // without `times` applies until cleared, one without `endpoint` to all.
  take(endpoint) {
    const index = this.#rules.findIndex((rule) => rule.endpoint === undefined || rule.endpoint === endpoint);
    if (index === -1) return undefined;
    const rule = this.#rules[index];
    if (rule.times !== undefined) {
      rule.times -= 1;
      if (rule.times === 0) this.#rules.splice(index, 1);
    }
    const { times, ...applied } = rule;
    return applied;
  }
}

// Answers requests under /__test/. Returns false if the path is not ours.
export async function handleTestApi(req, res, url, {
  events, faults, issuer, provider, accounts,
}) {
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /__test/health':
      sendJson(res, 200, { status: 'ok', issuer });
      return true;
    case 'GET /__test/events':
      sendJson(res, 200, events.list(url.searchParams.get('type') ?? undefined));
      return true;
    case 'DELETE /__test/events':
      events.clear();
      sendEmpty(res, 204);
      return true;
    case 'GET /__test/fail':
      sendJson(res, 200, faults.list());
      return true;
    case 'DELETE /__test/fail':
      faults.clear();
      sendEmpty(res, 204);
      return true;
    case 'POST /__test/fail': {
      let rule;
      try {
        rule = parseFaultRule(JSON.parse(await readBody(req)));
      } catch (err) {
        sendJson(res, 400, { error: 'invalid_request', error_description: err.message });
        return true;
      }
      faults.add(rule);
      sendJson(res, 201, rule);
      return true;
    }
    case 'POST /__test/end-user': {
      let sub;
      try {
        ({ sub } = JSON.parse(await readBody(req)));
      } catch {
        sub = undefined;
      }
      if (typeof sub !== 'string' || !sub) {
        sendJson(res, 400, { error: 'invalid_request', error_description: 'expected a JSON object like {"sub":"user-john"}' });
        return true;
      }
      const ended = await accounts.end(provider, sub);
      events.record({ type: 'end_user', method: 'POST', status: 200, ...ended });
      sendJson(res, 200, ended);
      return true;
    }
    default:
      if (url.pathname.startsWith('/__test/')) {
        sendJson(res, 404, { error: 'not_found', error_description: `no test route ${route}` });
        return true;
      }
      return false;
  }
}
