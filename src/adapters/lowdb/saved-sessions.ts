/**
 * Where logins that must survive a restart are kept: `sessions.json` and its journal (a login
 * is one appended line, see lowdb-store.ts), apart from the registry's file.
 */
import { emptySessions, type SavedSession, type SessionsData } from './data.ts';
import { LowdbStore } from './lowdb-store.ts';
import type { Store } from '../../ports.ts';

/** What the session hub needs of it. */
export interface SessionSaver {
  readonly sessions: Readonly<Record<string, SavedSession>>;
  /** Resolves once the change is on disk. */
  put(key: string, session: SavedSession): Promise<void>;
  remove(key: string): Promise<void>;
}

export const openSessionStore = (dir: string): Promise<LowdbStore<SessionsData>> => LowdbStore.openFile(dir, 'sessions.json', emptySessions);

export function sessionSaver(store: Store<SessionsData>): SessionSaver {
  return {
    get sessions() {
      return store.data.sessions;
    },
    put: (key, session) => store.patch(['sessions'], { [key]: session }),
    remove: (key) => store.patch(['sessions'], { [key]: undefined }),
  };
}
