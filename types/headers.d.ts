// abio's public typings: headers as abio takes them (the HTTP client, the server's answers, a
// WebSocket's handshake). Re-exported by ../index.d.ts.

/**
 * Headers in any form `fetch` takes, and arrays for a name sent several times:
 * - a `Headers` (each `set-cookie` is sent apart; other repeated names as `Headers` gives them,
 *   joined with `', '`, as `fetch` sends them);
 * - `[name, value]` pairs (an array of them, a `Map`): a repeated name is sent as several lines;
 * - an object whose values are strings, numbers (sent as strings), or arrays of them (one line
 *   each).
 * Names are HTTP tokens (sent lower-case); values are Latin-1, without CR, LF or NUL. Read at
 * the call, not held.
 */
export type HeadersInput =
  | Headers
  | Iterable<readonly [name: string, value: string | number]>
  | Record<string, string | number | readonly (string | number)[]>
