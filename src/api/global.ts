import type { ApiContext, App } from './context.ts';

export function globalRoutes(_app: App, _ctx: ApiContext): void {}
