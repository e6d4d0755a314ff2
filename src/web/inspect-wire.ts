/** What the inspector's socket (src/inspect/socket.ts) sends its page (src/web/inspect.ts): one source for both. */

export interface SessionRow {
  id: string;
  /** Top-level state (`waiting`). */
  state: string;
  /** The full state (`authenticated.pinging`). */
  value: string;
  age: number;
  inState: number;
  account: number | null;
}

export interface ServerRow {
  serverid: string;
  serverName: string;
  sessions: SessionRow[];
  /** Sessions not listed (over the cap). */
  more: number;
}

/** One line of a session's log. */
export interface LogEntry {
  /** ms since epoch (the hub's clock). */
  at: number;
  kind: 'event' | 'transition';
  /** The event's type (for a transition: the event that caused it). */
  type: string;
  /** Transitions: the state before (none for the first) and after, as dotted paths (`authenticated.pinging`). */
  from?: string;
  to?: string;
}
